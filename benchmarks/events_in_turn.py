"""Vocal events in the turn: how often the detector speaks up on plain speech, what it costs, and where to
set ``run.event_threshold``.

The cascade with ``run.detect_events: true`` runs the packaged event detector on the user's audio and tells
the prompt about laughs, sighs, coughs... A detector that hears events in plain speech would put words in
the user's mouth ("they sighed"), so the threshold is chosen on plain speech:

1. every clip of plain speech (no vocalizations) from the corpora found in DATA_DIR (``ravdess-dev``,
   ``esd-en-0020``, ``commonvoice-en``, ``casia-zh-dev``), and the real vocalizations of ``nonverbal-dev``
   (cough, sigh, throat clearing, tongue click, panting), are run through the detector once, keeping every
   event at any confidence (pauses off);
2. the clips are split in two, by speaker where a corpus has several (RAVDESS actors, Common Voice and
   CASIA speakers, Deeply speakers; ESD has one speaker, split by clip number): a *calibration* part and a
   *report* part;
3. on the calibration part the threshold is the lowest (0.50 to 0.99 in steps of 0.01) at which at most
   ``--target`` (2%) of speech clips have an event of a reported label;
4. on the report part, at that threshold: the false-alarm rate (share of speech clips with any event, and
   events per minute of speech) and, on the real vocalizations, the recall (share of clips in which the
   detector reports their label, and share in which it reports any event).

Cost: the detector's time per clip (``detect``, one thread, the median over clips), reported per 3 s of
audio, and the cascade's perceive step with and without the detector on a packaged 3 s clip.

Usage::

    python benchmarks/events_in_turn.py DATA_DIR [--per-corpus 120] [--target 0.02] [--json]
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SPEECH_CORPORA = ("ravdess-dev", "esd-en-0020", "commonvoice-en", "casia-zh-dev")
NONVERBAL = "nonverbal-dev"
#: Labels the turn reports (pauses are not vocal events).
LABELS = ("laugh", "sigh", "gasp", "throat_clearing", "tsk", "cough", "breath")


def speech_rows(data: Path, per_corpus: int) -> list[dict]:
    """Up to ``per_corpus`` clips of each speech corpus, spread over its speakers, with their split."""
    rows = []
    for corpus in SPEECH_CORPORA:
        manifest = data / corpus / "manifest.csv"
        if not manifest.is_file():
            print(f"({corpus} not found in {data}; skipped)", file=sys.stderr)
            continue
        with open(manifest, encoding="utf-8", newline="") as handle:
            found = list(csv.DictReader(handle))
        step = max(1, len(found) // per_corpus)
        chosen = found[::step][:per_corpus]
        speakers = sorted({row["speaker"] for row in found})
        for i, row in enumerate(chosen):
            if len(speakers) > 1:
                part = "calibration" if speakers.index(row["speaker"]) % 2 == 0 else "report"
            else:
                part = "calibration" if i % 2 == 0 else "report"
            rows.append({"path": str(manifest.parent / row["path"]), "corpus": corpus, "part": part, "label": ""})
    return rows


def vocalization_rows(data: Path) -> list[dict]:
    """The real vocalizations with a label the detector claims, split by speaker."""
    from emotionlayer.paralinguistics.detection.train import LABEL_MAPS

    manifest = data / NONVERBAL / "manifest.csv"
    if not manifest.is_file():
        return []
    label_map = LABEL_MAPS["deeply-nonverbal"]
    with open(manifest, encoding="utf-8", newline="") as handle:
        found = [row for row in csv.DictReader(handle) if row["label"] in label_map]
    speakers = sorted({row["speaker"] for row in found})
    return [
        {
            "path": str(manifest.parent / row["path"]),
            "corpus": NONVERBAL,
            "part": "calibration" if speakers.index(row["speaker"]) % 2 == 0 else "report",
            "label": label_map[row["label"]],
        }
        for row in found
    ]


def detect_all(rows: list[dict]) -> None:
    """Every event at any confidence, the clip's length and the detector's time, into each row."""
    from emotionlayer.audio import load_audio
    from emotionlayer.paralinguistics.detection.detector import VocalEventModel

    model = VocalEventModel(min_confidence=0.0, min_pause=0.0)
    for i, row in enumerate(rows):
        audio = load_audio(row["path"]).resample(16000)
        start = time.perf_counter()
        events = model.detect(audio)
        row["seconds"] = time.perf_counter() - start
        row["duration"] = len(audio.samples) / audio.sample_rate
        row["events"] = [(e.label, e.confidence) for e in events if e.label in LABELS]
        if i % 100 == 0:
            print(f"  {i}/{len(rows)}", file=sys.stderr)


def fired(row: dict, threshold: float) -> list[str]:
    return [label for label, confidence in row["events"] if confidence >= threshold]


def false_alarms(rows: list[dict], threshold: float) -> dict:
    speech = [row for row in rows if not row["label"]]
    if not speech:
        return {"clips": 0}
    with_event = [row for row in speech if fired(row, threshold)]
    events = sum(len(fired(row, threshold)) for row in speech)
    minutes = sum(row["duration"] for row in speech) / 60.0
    labels: dict[str, int] = {}
    for row in speech:
        for label in fired(row, threshold):
            labels[label] = labels.get(label, 0) + 1
    return {
        "clips": len(speech),
        "clips_with_event": len(with_event),
        "false_alarm_rate": len(with_event) / len(speech),
        "events_per_minute": events / minutes,
        "labels": labels,
    }


def recall(rows: list[dict], threshold: float) -> dict:
    voc = [row for row in rows if row["label"]]
    if not voc:
        return {"clips": 0}
    right = sum(row["label"] in fired(row, threshold) for row in voc)
    anything = sum(bool(fired(row, threshold)) for row in voc)
    per_label = {}
    for label in sorted({row["label"] for row in voc}):
        of = [row for row in voc if row["label"] == label]
        per_label[label] = f"{sum(label in fired(row, threshold) for row in of)}/{len(of)}"
    return {
        "clips": len(voc),
        "label_recall": right / len(voc),
        "any_event": anything / len(voc),
        "per_label": per_label,
    }


def choose_threshold(calibration: list[dict], target: float) -> float:
    speech = [row for row in calibration if not row["label"]]
    for step in range(50, 100):
        threshold = step / 100
        if sum(bool(fired(row, threshold)) for row in speech) <= target * len(speech):
            return threshold
    return 0.99


def perceive_cost(repeats: int) -> dict:
    """The cascade's perceive step on a packaged 3 s clip, without and with the detector (same run)."""
    import emotionlayer.testing  # noqa: F401  (registers the dummy LLM and TTS)
    from emotionlayer.audio import load_audio
    from emotionlayer.pipeline import CascadePipeline

    clip = load_audio(Path(__file__).resolve().parent.parent / "examples" / "audio" / "sad_phone.wav")
    without = CascadePipeline.from_config({"run": {"detect_events": False}, "llm": "dummy", "tts": "dummy"})
    with_events = CascadePipeline.from_config({"run": {"detect_events": True}, "llm": "dummy", "tts": "dummy"})
    for pipe in (without, with_events):
        pipe.perceive(clip)
    times: dict[str, list[float]] = {"without": [], "with": [], "events": []}
    for _ in range(repeats):  # interleaved, so both see the same load
        for name, pipe in (("without", without), ("with", with_events)):
            start = time.perf_counter()
            perception = pipe.perceive(clip)
            times[name].append(time.perf_counter() - start)
            if name == "with":
                times["events"].append(perception.timings["events"])
    median = {name: statistics.median(values) for name, values in times.items()}
    return {
        "clip_seconds": round(len(clip.samples) / clip.sample_rate, 2),
        "perceive_without_s": round(median["without"], 4),
        "perceive_with_s": round(median["with"], 4),
        "ratio": round(median["with"] / median["without"], 3),
        "events_timing_s": round(median["events"], 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "data", type=Path, help="folder holding ravdess-dev/, esd-en-0020/, ... (each with manifest.csv)"
    )
    parser.add_argument("--per-corpus", type=int, default=120, help="speech clips taken from each corpus")
    parser.add_argument("--target", type=float, default=0.02, help="largest false-alarm rate allowed on calibration")
    parser.add_argument("--repeats", type=int, default=20, help="perceive runs for the cost figure")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    rows = speech_rows(args.data, args.per_corpus) + vocalization_rows(args.data)
    detect_all(rows)
    calibration = [row for row in rows if row["part"] == "calibration"]
    report = [row for row in rows if row["part"] == "report"]
    threshold = choose_threshold(calibration, args.target)
    per_3s = [row["seconds"] / row["duration"] * 3.0 for row in rows]
    result = {
        "threshold": threshold,
        "calibration": {
            "false_alarms": false_alarms(calibration, threshold),
            "vocalizations": recall(calibration, threshold),
        },
        "report": {
            "false_alarms": false_alarms(report, threshold),
            "false_alarms_by_corpus": {
                corpus: false_alarms([row for row in report if row["corpus"] == corpus], threshold)
                for corpus in SPEECH_CORPORA
            },
            "vocalizations": recall(report, threshold),
            "at_0.5": {"false_alarms": false_alarms(report, 0.5), "vocalizations": recall(report, 0.5)},
        },
        "detector_ms_per_3s_median": round(1000 * statistics.median(per_3s), 2),
        "perceive": perceive_cost(args.repeats),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"threshold chosen on the calibration part: {threshold}")
    for part in ("calibration", "report"):
        print(part, json.dumps(result[part], indent=1))
    print(f"detector: {result['detector_ms_per_3s_median']} ms per 3 s of audio (median over {len(rows)} clips)")
    print("perceive:", result["perceive"])


if __name__ == "__main__":
    main()
