"""How the event detector does on real recordings it never saw.

Takes the Coswara events manifest (CC BY 4.0 breath and cough recordings; columns path, label, speaker)
and scores the detector on the recordings of every participant whose clips are NOT in the packaged event
bank (see ``emotionlayer/paralinguistics/curation.py``), so neither the speakers nor the recordings were seen in
training. Each recording is one clip-level example (a recording of someone breathing or coughing).

Usage::

    python benchmarks/events.py --manifest path/to/events-cc-by/manifest.csv [--model-dir DIR] [--json]
        [--synthetic path/to/test/manifest.jsonl] [--speech path/to/ravdess/manifest.csv]

Prints accuracy, macro F1, per-label scores, the confusion matrix and the detection speed. With
``--synthetic`` (a manifest from ``emotionlayer events make-data`` made with another seed than the
training data) it also scores event timing on synthesised speech: per-label event F1 where a detection
matches a true event of the same label with intersection-over-union >= 0.3. With ``--speech`` (a CSV of
real speech recordings without tagged events) it counts the events reported there.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path


def held_out_rows(manifest: Path) -> list[dict[str, str]]:
    """Rows of speakers that have no clip in the packaged bank."""
    from emotionlayer.paralinguistics.curation import BANK_SPEAKERS

    in_bank = {speaker for speakers in BANK_SPEAKERS.values() for speaker in speakers}
    with open(manifest, encoding="utf-8", newline="") as handle:
        return [row for row in csv.DictReader(handle) if row["speaker"] not in in_bank]


def false_alarms(manifest: Path, detector, limit: int) -> dict:
    """Events (other than pauses) the detector reports in speech that has none."""
    from emotionlayer.audio import load_audio

    with open(manifest, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    step = max(len(rows) // max(limit, 1), 1)
    rows = rows[::step][:limit]
    base = manifest.resolve().parent
    seconds = event_seconds = 0.0
    count = with_events = 0
    by_label: dict[str, int] = {}
    for row in rows:
        audio = load_audio(base / row["path"], max_seconds=None)
        events = [e for e in detector.detect(audio) if e.label != "pause"]
        seconds += audio.duration
        count += len(events)
        with_events += bool(events)
        event_seconds += sum(e.end - e.start for e in events)
        for event in events:
            by_label[event.label] = by_label.get(event.label, 0) + 1
    return {
        "clips": len(rows),
        "seconds": round(seconds, 1),
        "events_per_minute": round(60.0 * count / max(seconds, 1e-9), 2),
        "share_of_time": round(event_seconds / max(seconds, 1e-9), 4),
        "clips_with_events": with_events,
        "by_label": by_label,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Score the event detector on held-out real Coswara recordings.")
    parser.add_argument("--manifest", required=True, type=Path, help="path/to/events-cc-by/manifest.csv")
    parser.add_argument("--model-dir", default=None, help="detector folder (default: the packaged detector)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--synthetic", type=Path, default=None, help="manifest.jsonl of synthesised test speech")
    parser.add_argument(
        "--speech",
        type=Path,
        default=None,
        help="CSV manifest (column path) of real plain speech without events, e.g. path/to/ravdess/manifest.csv: "
        "reports the events found there (false alarms)",
    )
    parser.add_argument(
        "--speech-limit", type=int, default=96, help="use at most this many speech clips (spread evenly)"
    )
    args = parser.parse_args(argv)

    from emotionlayer.evaluation.events import evaluate_events
    from emotionlayer.registry import create

    rows = held_out_rows(args.manifest)
    base = args.manifest.resolve().parent
    with tempfile.TemporaryDirectory() as tmp:
        held_out = Path(tmp) / "held_out.csv"
        with open(held_out, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["path", "label", "speaker"])
            for row in rows:
                writer.writerow([os.fspath(base / row["path"]), row["label"], row["speaker"]])
        detector = create("events", "default", model_dir=args.model_dir)
        detector.warmup()
        started = time.perf_counter()
        result = evaluate_events(held_out, detector)
        elapsed = time.perf_counter() - started
    audio_seconds = sum(float(row["duration_s"]) for row in rows)
    data = result.to_dict(include_predictions=True)
    data["speakers"] = len({row["speaker"] for row in rows})
    data["audio_seconds"] = round(audio_seconds, 1)
    data["real_time_factor"] = round(elapsed / audio_seconds, 4)
    for item in data["predictions"]:
        item["path"] = os.path.relpath(item["path"], base)
    if args.synthetic is not None:
        from emotionlayer.evaluation.events import evaluate_event_timing

        data["synthetic_timing"] = evaluate_event_timing(args.synthetic, detector)
    if args.speech is not None:
        data["plain_speech"] = false_alarms(args.speech, detector, args.speech_limit)
    if args.json:
        print(json.dumps(data, indent=1))
        return
    print(f"held-out real recordings: {data['n']} from {data['speakers']} speakers, {audio_seconds:.0f} s of audio")
    print(
        f"accuracy {data['accuracy']:.3f}  macro F1 {data['macro_f1']:.3f}  unweighted accuracy "
        f"{data['unweighted_accuracy']:.3f}"
    )
    for label, scores in data["per_label"].items():
        print(
            f"  {label:<16} P {scores['precision']:.2f}  R {scores['recall']:.2f}  F1 {scores['f1']:.2f}  "
            f"n={scores['support']}"
        )
    print("confusion (rows: truth, columns: predicted):", data["confusion"]["labels"])
    for label, row in zip(data["confusion"]["labels"], data["confusion"]["matrix"], strict=False):
        print(f"  {label:<16} {row}")
    if "plain_speech" in data:
        fa = data["plain_speech"]
        print(
            f"plain real speech ({fa['clips']} clips, {fa['seconds']:.0f} s): {fa['events_per_minute']:.1f} events "
            "per minute, "
            f"{100 * fa['share_of_time']:.1f}% of the time inside events, clips with any event "
            f"{fa['clips_with_events']}; "
            f"by label {fa['by_label']}"
        )
    if "synthetic_timing" in data:
        timing = data["synthetic_timing"]
        print(
            f"synthesised test speech ({timing['n_recordings']} utterances): event micro F1 {timing['micro_f1']:.3f}, "
            f"macro F1 {timing['macro_f1']:.3f}, mean onset error {timing['onset_error_s']} s"
        )
        for label, scores in timing["per_label"].items():
            print(
                f"  {label:<16} P {scores['precision']:.2f}  R {scores['recall']:.2f}  F1 {scores['f1']:.2f}  "
                f"n={scores['support']}"
            )
    print(f"speed: {elapsed / max(data['n'], 1):.3f} s per recording, real-time factor {data['real_time_factor']:.4f}")


if __name__ == "__main__":
    sys.exit(main())
