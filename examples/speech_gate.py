"""The speech gate: the cascade answers speech, and asks again when it hears none.

    python examples/speech_gate.py [path/to/clip.wav]

Runs the packaged default (silero VAD, whisper tiny.en, SmolLM2, piper) on white noise, on a music-like
melody and on a real recording, then shows the VAD on its own, whole-clip and frame by frame as a live
conversation would use it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from emotionlayer import registry
from emotionlayer.audio import load_audio
from emotionlayer.pipeline import CascadePipeline
from emotionlayer.testing import music, white_noise

clip = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "audio" / "calm_phone.wav"

pipe = CascadePipeline.from_config()  # the gate is on by default (run.speech_gate)
pipe.warmup()  # load every model now, so the timings below are the models' own
for name, audio in (("white noise", white_noise(3.0)), ("music", music(3.0)), (clip.name, load_audio(clip))):
    turn = pipe.respond(audio)
    emotion = f"{turn.emotion.label} {turn.emotion.confidence:.2f} ({turn.emotion.model})"
    print(f"{name:>16}: speech heard {turn.speech_detected!s:5}  heard {turn.transcript.text!r}  emotion {emotion}")
    print(
        f"{'':>16}  reply {turn.response.text!r}  (LLM {turn.timings['llm']:.2f} s, VAD "
        f"{turn.timings.get('vad', 0):.3f} s)"
    )

# The VAD alone: where the speech is, and the same model frame by frame.
vad = registry.create("vad", "silero")
audio = load_audio(clip).resample(16000)
print("speech segments (s):", vad.speech_segments(audio))
stream = vad.stream()
frames = [audio.samples[i : i + 512] for i in range(0, len(audio.samples) - 511, 512)]
live = "".join("#" if stream.process(frame) >= 0.5 else "." for frame in frames)
print("frame by frame (32 ms, # = speech):", live)
