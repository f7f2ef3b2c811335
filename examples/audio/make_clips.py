"""Regenerate the example clips in this folder with emotionlayer's own TTS.

Every clip is the packaged piper voice (en_US-joe-medium) saying one sentence in an *acted* emotion:
the emotion is put on by speaking rate, pitch and loudness only (emotionlayer.components.tts.styles),
so these are synthetic stand-ins, not recordings of real emotional speech.

    python examples/audio/make_clips.py            # writes <emotion>_phone.wav here (16 kHz mono)
    python examples/audio/make_clips.py --out DIR  # somewhere else

Piper samples its phoneme durations with some noise, so a regenerated clip differs slightly.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from emotionlayer import registry
from emotionlayer.audio import save_audio
from emotionlayer.components.tts.styles import EMOTION_STYLES

TEXT = "My phone won't turn on, and I need it today."
SAMPLE_RATE = 16000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate the acted-emotion example clips with the piper voice.")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent), help="folder to write the clips to")
    parser.add_argument("--text", default=TEXT, help="sentence every clip says")
    args = parser.parse_args(argv)

    tts = registry.create("tts", "piper")
    for emotion, style in EMOTION_STYLES.items():
        audio = tts.synthesize(args.text, style).resample(SAMPLE_RATE)
        path = save_audio(audio, Path(args.out) / f"{emotion}_phone.wav")
        print(f"{path}: {emotion:<9} rate {style.rate:<4} pitch {style.pitch_semitones:+.1f} st "
              f"volume {style.volume:<4} -> {audio.duration:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
