"""How often the cascade's speech gate hears speech: on real recordings (it should) and on non-speech (it must not).

Each clip goes through the cascade's own ``perceive`` step with the packaged VAD (silero) and ASR
(faster-whisper tiny.en) and the default gate settings; the SER, LLM and TTS are fakes, since they play
no part in the decision. Per source it reports the share of clips heard as speech, the share the VAD
alone finds speech in, how many transcripts came back empty, whisper's no-speech probability (median,
95th percentile, highest) and the VAD's time per second of audio.

Real speech comes from manifests (CSV with a ``path`` column relative to the manifest's folder), and so
may real sounds that are not words (``--other``: coughs, laughs, sighs); the rest of the non-speech set is
synthetic (white noise at three levels, a music-like melody, mains hum, a pure tone,
faint hiss), made here, so the script runs without any data.

    python benchmarks/speech_gate.py                                    # synthetic non-speech only
    python benchmarks/speech_gate.py --manifest path/to/commonvoice-en/manifest.csv \\
        --manifest path/to/ravdess/manifest.csv
    python benchmarks/speech_gate.py --manifest M --other path/to/nonverbal/manifest.csv --limit 100
    python benchmarks/speech_gate.py --manifest M --limit 100 --vad-only --json
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np


def non_speech() -> list[tuple[str, Any]]:
    """Synthetic clips that hold no speech, 3 s each, several of every kind."""
    from emotionlayer.testing import hum, music, tone, white_noise
    from emotionlayer.types import Audio

    clips = []
    for seed in range(4):
        for amplitude in (0.01, 0.1, 0.3):
            clips.append(("white noise", white_noise(3.0, amplitude=amplitude, seed=seed)))
        clips.append(("music-like tones", music(3.0, amplitude=0.05 + 0.05 * seed)))
        clips.append(("mains hum", hum(3.0, frequency=(50.0, 60.0)[seed % 2], amplitude=0.02 + 0.02 * seed, seed=seed)))
        clips.append(("pure tone", tone(3.0, frequency=150.0 + 100.0 * seed)))
        hiss = np.random.default_rng(seed).standard_normal(48000) * 0.003
        clips.append(("faint hiss", Audio(hiss.astype(np.float32), 16000)))
    return clips


def from_manifest(path: str, limit: int | None) -> list[tuple[str, Any]]:
    """``(source name, Audio)`` for the first ``limit`` clips of a manifest."""
    from emotionlayer.audio import load_audio

    root = Path(path).parent
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))[:limit]
    return [(root.name, load_audio(root / row["path"])) for row in rows]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", action="append", default=[], help="a manifest of real speech (repeatable)")
    parser.add_argument(
        "--other", action="append", default=[], help="a manifest of real sounds that are not words (coughs, laughs...)"
    )
    parser.add_argument("--limit", type=int, default=None, help="clips per manifest (default: all)")
    parser.add_argument("--vad-only", action="store_true", help="skip the ASR (fast): report the VAD's decisions only")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)

    from emotionlayer import registry
    from emotionlayer.config import PipelineConfig
    from emotionlayer.pipeline import CascadePipeline
    from emotionlayer.testing import DummyLLM, DummySER, DummyTTS

    class Recorded:
        """The ASR, keeping its last transcript (the gate replaces a no-speech one in the perception)."""

        def __init__(self, asr: Any) -> None:
            self.asr, self.name, self.last = asr, asr.name, None

        def warmup(self) -> None:
            self.asr.warmup()

        def transcribe(self, audio: Any, language: str | None = None) -> Any:
            self.last = self.asr.transcribe(audio, language=language)
            return self.last

    config = PipelineConfig.default()
    vad = registry.create("vad", config.vad.backend, **config.vad.params)
    asr = None if args.vad_only else Recorded(registry.create("asr", config.asr.backend, **config.asr.params))
    pipe = CascadePipeline(DummySER(), asr, DummyLLM(), DummyTTS(), config=config, vad=vad)
    pipe.warmup()  # load the models before anything is timed

    clips: list[tuple[str, Any, bool]] = []
    for manifest in args.manifest:
        clips += [(name, audio, True) for name, audio in from_manifest(manifest, args.limit)]
    for manifest in args.other:
        clips += [(name, audio, False) for name, audio in from_manifest(manifest, args.limit)]
    clips += [(name, audio, False) for name, audio in non_speech()]

    stats: dict[str, dict[str, Any]] = {}
    for name, audio, is_speech in clips:
        row = stats.setdefault(
            name,
            {
                "speech": is_speech,
                "n": 0,
                "vad": 0,
                "heard": 0,
                "empty": 0,
                "no_speech": [],
                "vad_s": 0.0,
                "audio_s": 0.0,
            },
        )
        start = time.perf_counter()
        found = bool(vad.speech_segments(audio))
        row["vad_s"] += time.perf_counter() - start
        row["audio_s"] += audio.duration
        row["n"] += 1
        row["vad"] += found
        if asr is None:
            row["heard"] += found
            continue
        asr.last = None
        perception = pipe.perceive(audio)
        row["heard"] += pipe.heard_speech(perception)
        transcript = asr.last  # None when the VAD found no speech: the ASR did not run
        if transcript is not None:
            row["empty"] += not transcript.text.strip()
            if transcript.no_speech_prob is not None:
                row["no_speech"].append(transcript.no_speech_prob)

    out: dict[str, Any] = {"vad": vad.name, "asr": None if asr is None else asr.name, "sources": {}}
    for name, row in stats.items():
        probs = np.array(row["no_speech"]) if row["no_speech"] else None
        out["sources"][name] = {
            "is_speech": row["speech"],
            "clips": row["n"],
            "heard_as_speech": round(row["heard"] / row["n"], 4),
            "vad_found_speech": round(row["vad"] / row["n"], 4),
            "empty_transcripts": None if asr is None else row["empty"],
            "no_speech_prob_p50_p95_max": None
            if probs is None
            else [round(float(np.percentile(probs, q)), 3) for q in (50, 95, 100)],
            "vad_ms_per_audio_s": round(1000 * row["vad_s"] / row["audio_s"], 2),
        }
    out["load_average_1m"] = round(os.getloadavg()[0], 2)
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(
        f"VAD {out['vad']}, ASR {out['asr'] or '(skipped)'}, gate threshold no_speech_prob >= "
        f"{config.run.no_speech_threshold}"
    )
    print(
        f"{'source':<28}{'speech?':>8}{'clips':>7}{'heard':>8}{'VAD':>8}{'empty':>7}  "
        f"{'no-speech p50/p95/max':<24}{'VAD ms/s':>9}"
    )
    for name, row in out["sources"].items():
        probs = (
            "/".join(f"{p:.2f}" for p in row["no_speech_prob_p50_p95_max"])
            if row["no_speech_prob_p50_p95_max"]
            else "-"
        )
        empty = "-" if row["empty_transcripts"] is None else str(row["empty_transcripts"])
        print(
            f"{name:<28}{'yes' if row['is_speech'] else 'no':>8}{row['clips']:>7}{row['heard_as_speech']:>8.1%}"
            f"{row['vad_found_speech']:>8.1%}{empty:>7}  {probs:<24}{row['vad_ms_per_audio_s']:>9.2f}"
        )
    print(f"(load average {out['load_average_1m']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
