"""ParalinGPT on held-out speech: emotion accuracy (the label scores of the `emotion` field) and sample answers.

    python benchmarks/paralingpt.py --model packaged --manifest test_emotion.csv [--transcripts asr|given] [--json]
    python benchmarks/paralingpt.py --model paralingpt-run --manifest test_emotion.csv --replies 6

The manifest needs path and emotion (and text for --transcripts given). With --transcripts asr (the
default, as the dialogue system runs) the config's ASR writes each transcript first; with given, the
manifest's text is the transcript. Reports 8-class accuracy and unweighted accuracy (UA), 4-class
(neutral/happy/sad/angry) UA, the confusion of the 8 classes, how often sample answers had all three fields
well formed, and whether their response emotion is the one the empathy strategy gives the voice.
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

FOUR = ("neutral", "happy", "sad", "angry")


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def evaluate(
    model, rows: list[dict[str, str]], transcripts: str, replies: int, max_new_tokens: int
) -> dict[str, object]:
    from emotionlayer import registry
    from emotionlayer.audio import load_audio
    from emotionlayer.config import PipelineConfig
    from emotionlayer.evaluation.metrics import classification_report
    from emotionlayer.labels import canonical
    from emotionlayer.models.paralingpt.fields import parse_fields

    config = PipelineConfig.default()
    asr = registry.create("asr", config.asr.backend, **config.asr.params) if transcripts == "asr" else None
    truth, predicted, predicted4, seconds, asr_seconds, samples = [], [], [], [], [], []
    for i, row in enumerate(rows):
        audio = load_audio(row["path"], 16000)
        start = time.perf_counter()
        said = asr.transcribe(audio).text if asr is not None else row.get("text", "")
        asr_seconds.append(time.perf_counter() - start)
        start = time.perf_counter()
        reading = model.read(model.encode(audio), said)
        seconds.append(time.perf_counter() - start)
        emotion = reading.emotion
        truth.append(canonical(row["emotion"]))
        predicted.append(emotion.label)
        four = {label: p for label, p in emotion.probabilities.items() if label in FOUR}
        predicted4.append(max(four, key=four.get))
        if replies and i % max(1, len(rows) // replies) == 0 and len(samples) < replies:
            "".join(reading.pieces(max_new_tokens))
            fields = parse_fields(reading.raw, model.config.labels)
            voice = config.strategy_for(emotion.label).style.emotion
            samples.append({
                "clip": Path(row["path"]).name, "said": said, "emotion": truth[-1], "heard": emotion.label,
                "response_emotion": fields.response_emotion, "strategy_voice": voice, "complete": fields.complete,
                "reply": fields.reply, "raw": reading.raw,
            })
    keep = [i for i, label in enumerate(truth) if label in FOUR]
    report = classification_report(truth, predicted, labels=list(model.config.labels))
    four_report = classification_report([truth[i] for i in keep], [predicted4[i] for i in keep], labels=list(FOUR))
    return {
        "n": len(rows),
        "transcripts": transcripts,
        "accuracy": round(report.accuracy, 4),
        "ua": round(report.unweighted_accuracy, 4),
        "ua_4class": round(four_report.unweighted_accuracy, 4),
        "n_4class": len(keep),
        "confusion": {"labels": list(model.config.labels), "matrix": [list(map(int, r)) for r in report.confusion]},
        "median_read_s": round(statistics.median(seconds), 3),
        "median_asr_s": round(statistics.median(asr_seconds), 3) if asr is not None else None,
        "complete_fields": sum(s["complete"] for s in samples),
        "response_matches_strategy": sum(s["response_emotion"] == s["strategy_voice"] for s in samples),
        "samples": samples,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="packaged", help="model folder, or 'packaged'")
    parser.add_argument("--manifest", type=Path, required=True, help="CSV with path, emotion (and text)")
    parser.add_argument(
        "--transcripts", choices=("asr", "given"), default="asr", help="where the transcript comes from"
    )
    parser.add_argument("--replies", type=int, default=4, help="write this many sample answers")
    parser.add_argument("--max-new-tokens", type=int, default=48, help="tokens per sample answer")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    import torch

    from emotionlayer.models.paralingpt import ParalinGPT

    torch.set_num_threads(args.threads)
    model = ParalinGPT.from_pretrained(None if args.model == "packaged" else args.model, device="cpu")
    figures = evaluate(model, _rows(args.manifest), args.transcripts, args.replies, args.max_new_tokens)
    result = {"model": args.model, **figures}
    if args.json:
        print(json.dumps(result))
        return 0
    for key in ("n", "transcripts", "accuracy", "ua", "ua_4class", "median_read_s", "median_asr_s",
                "complete_fields", "response_matches_strategy"):
        print(f"{key:<28}{result[key]}")
    labels = result["confusion"]["labels"]
    print("confusion (rows: truth, columns: predicted)  " + " ".join(f"{label[:4]:>5}" for label in labels))
    for label, counts in zip(labels, result["confusion"]["matrix"], strict=True):
        print(f"  {label:<42}" + " ".join(f"{c:>5}" for c in counts))
    for sample in result["samples"]:
        print(f"- {sample['clip']} ({sample['emotion']}, heard {sample['heard']}): {sample['raw']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
