"""Voice conversion of paralinguistic events: a bank clip matched to a speaker's pitch, timbre and loudness.

    python examples/voice_conversion.py                        # a voice made with the packaged piper TTS
    python examples/voice_conversion.py my_voice.wav out_dir   # your own recording (a few seconds of speech)

For one bank clip of each label it writes, to ``voice_conversion/`` (or ``out_dir``):

- ``voice.wav``: the speech the events are matched to;
- ``<label>_before.wav`` / ``<label>_after.wav``: the clip as it is in the bank (at the voice's rate) and
  converted by the ``vc`` component's ``default`` backend;
- ``<label>_in_speech_before.wav`` / ``..._after.wav``: the voice, then the clip (the bank's own loudness
  matching for "before"), to hear the difference in context.

and prints, per clip, the median pitch (F0), the distance of its long-term spectral envelope to the voice's,
and its active level relative to the voice's, before and after.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from emotionlayer import registry
from emotionlayer.audio import load_audio, save_audio
from emotionlayer.components.vc import envelope_distance, spectral_envelope, voiced_f0
from emotionlayer.paralinguistics.bank import RELATIVE_LEVEL_DB, EventBank
from emotionlayer.paralinguistics.dsp import active_level_db
from emotionlayer.types import Audio

SENTENCE = "Honestly, I did not expect the whole team to turn up at my door with a cake this morning."
LABELS = ("laugh", "sigh", "throat_clearing", "gasp", "tsk", "cough")


def the_voice(path: str | None) -> Audio:
    """The speech to match: a recording, else the packaged piper voice speaking :data:`SENTENCE`."""
    if path:
        return load_audio(path)
    return registry.create("tts", "piper").synthesize(SENTENCE)


def describe(samples: np.ndarray, rate: int, voice: np.ndarray, voice_level: float) -> str:
    f0, share = voiced_f0(samples, rate)
    envelope = spectral_envelope(samples, rate, frames="active")
    distance = envelope_distance(envelope, spectral_envelope(voice, rate, frames="voiced"), rate)
    level = active_level_db(samples, rate)
    pitch = f"{f0:5.0f} Hz" if f0 else "    - "
    return (
        f"F0 {pitch} (voiced {share:4.0%})  envelope distance {distance:4.1f} dB  level {level - voice_level:+5.1f} dB"
    )


def main() -> None:
    out = Path(sys.argv[2] if len(sys.argv) > 2 else "voice_conversion")
    out.mkdir(parents=True, exist_ok=True)
    voice = the_voice(sys.argv[1] if len(sys.argv) > 1 else None)
    rate = voice.sample_rate
    save_audio(voice, out / "voice.wav")
    voice_f0 = voiced_f0(voice.samples, rate, fmax=400.0)[0]
    voice_level = active_level_db(voice.samples, rate)
    print(f"voice: {voice.duration:.2f} s at {rate} Hz, F0 {voice_f0:.0f} Hz, active level {voice_level:.1f} dBFS")

    bank = EventBank(seed=0)
    vc = registry.create("vc", "default")  # or "torchscript", path=...; "callable", function="pkg.mod:fn"
    gap = np.zeros(int(0.15 * rate), np.float32)
    for label in LABELS:
        clip = bank.choose(label, rng=np.random.default_rng(1))
        event = load_audio(clip.path, check=False).resample(rate)
        converted = vc.convert(event, voice, label)
        matched = bank.render(label, voice, rate)  # what the bank alone does: loudness (and a near pitch)
        save_audio(event, out / f"{label}_before.wav")
        save_audio(converted, out / f"{label}_after.wav")
        save_audio(Audio(np.concatenate([voice.samples, gap, matched]), rate), out / f"{label}_in_speech_before.wav")
        save_audio(
            Audio(np.concatenate([voice.samples, gap, converted.samples]), rate), out / f"{label}_in_speech_after.wav"
        )
        step = vc.last
        print(f"\n{label} ({Path(clip.path).name}; target level {RELATIVE_LEVEL_DB[label]:+.0f} dB re the voice)")
        print("  before:", describe(event.samples, rate, voice.samples, voice_level))
        print("  after: ", describe(converted.samples, rate, voice.samples, voice_level))
        print(
            f"  pitch shift {step.shift_semitones:+.1f} semitones"
            + (f" (target {step.target_f0:.0f} Hz)" if step.target_f0 else " (not shifted: unvoiced)")
            + f", equaliser up to {step.max_gain_db:.1f} dB"
        )
    print(f"\nwrote {out}/")


if __name__ == "__main__":
    main()
