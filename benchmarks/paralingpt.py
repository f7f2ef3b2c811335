"""ParalinGPT on held-out speech: emotion accuracy (the label scores of the `emotion` field) and sample answers.

    python benchmarks/paralingpt.py --model packaged --manifest test_emotion.csv [--transcripts asr|given] [--json]
    python benchmarks/paralingpt.py --model paralingpt-run --manifest test_emotion.csv --replies 6

    python benchmarks/paralingpt.py --write-dev-split DATA --work WORK      # RAVDESS actors 1-8 / 9-12 manifests
    python benchmarks/paralingpt.py --probe --work WORK --warmup-steps 250,500,1000,2000

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
        "recall": {label: round(score.recall, 4) for label, score in report.per_label.items()},
        "recall_4class": {label: round(score.recall, 4) for label, score in four_report.per_label.items()},
        "confusion": {"labels": list(model.config.labels), "matrix": [list(map(int, r)) for r in report.confusion]},
        "median_read_s": round(statistics.median(seconds), 3),
        "median_asr_s": round(statistics.median(asr_seconds), 3) if asr is not None else None,
        "complete_fields": sum(s["complete"] for s in samples),
        "response_matches_strategy": sum(s["response_emotion"] == s["strategy_voice"] for s in samples),
        "samples": samples,
    }


#: Replies of the dev-split manifests, given to the clips at random (independent of the emotion): an emulation
#: of varied replies whose loss the emotion field's single token competes with.
DEV_REPLIES = (
    "Thanks for telling me. What would you like to do next?",
    "I see. Tell me a little more about it.",
    "Okay, let us look at this together.",
    "That makes sense. What happened then?",
    "I hear you. How long has it been like this?",
    "Right. Is there anything I can do to help?",
    "Got it. What do you think about it?",
    "Interesting. When did you notice that?",
)
#: RAVDESS actors that are a locked test split: never read here.
LOCKED_ACTORS = {f"ravdess_actor{n}" for n in (13, 14, 15, 16)}


def write_dev_split(data: Path, work: Path) -> tuple[Path, Path]:
    """Manifests of training-side RAVDESS speakers: actors 1-8 to train on, 9-12 to choose on (13-16 are
    never read). Each clip gets a reply drawn from :data:`DEV_REPLIES` by a hash of its file name."""
    import hashlib

    rows = [r for r in _rows(data / "ravdess-dev" / "manifest.csv") if r["speaker"] not in LOCKED_ACTORS]
    work.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, actors in (("ravdess-train-1-8.csv", range(1, 9)), ("ravdess-dev-9-12.csv", range(9, 13))):
        keep = {f"ravdess_actor{n:02d}" for n in actors}
        out = [
            {
                "path": str((data / "ravdess-dev" / r["path"]).resolve()),
                "text": r["text"],
                "emotion": r["emotion"],
                "speaker": r["speaker"],
                "reply": DEV_REPLIES[int(hashlib.sha256(r["path"].encode()).hexdigest(), 16) % len(DEV_REPLIES)],
            }
            for r in rows
            if r["speaker"] in keep
        ]
        with open(work / name, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(out[0]))
            writer.writeheader()
            writer.writerows(out)
        paths.append(work / name)
    return paths[0], paths[1]


def probe(work: Path, steps: list[int], aux_weight: float, seed: int) -> dict[str, object]:
    """Dev accuracy (actors 9-12) of the prefix's emotion classifier after the prefix warm-up on actors 1-8, for
    each number of warm-up steps, and of a logistic regression on the standardised pooled features (the
    emotion the encoder's features carry, whatever the adapter does)."""
    import torch
    from sklearn.linear_model import LogisticRegression

    from emotionlayer.models.common.config import TrainConfig
    from emotionlayer.models.common.features import FeatureCache, feature_cache_dir
    from emotionlayer.models.paralingpt import ParalinGPTConfig
    from emotionlayer.models.paralingpt.data import ParalinGPTDataset, load_examples
    from emotionlayer.models.paralingpt.model import build_model
    from emotionlayer.models.paralingpt.warmup import clip_pooled_features, warm_up_prefix

    config = ParalinGPTConfig(standardise=True, emotion_aux_weight=aux_weight)
    train_config = TrainConfig(learning_rate=1e-3, batch_size=8, seed=seed)
    splits = {}
    for name in ("ravdess-train-1-8.csv", "ravdess-dev-9-12.csv"):
        torch.manual_seed(seed)
        model = build_model(config)
        examples = load_examples(work / name, config.labels)
        cache = FeatureCache(feature_cache_dir(None), model.encoder)
        splits[name] = ParalinGPTDataset(examples, model, cache, cache.prepare(examples))
    train, dev = splits["ravdess-train-1-8.csv"], splits["ravdess-dev-9-12.csv"]
    pooled_train, pooled_dev = clip_pooled_features(model, train), clip_pooled_features(model, dev)
    mean, std = pooled_train.mean(0), pooled_train.std(0, unbiased=False)
    flat = [((p - mean) / std.clamp(min=1e-4)).flatten(1).numpy() for p in (pooled_train, pooled_dev)]
    logistic = LogisticRegression(max_iter=2000, C=0.1).fit(flat[0], train.emotions)
    result: dict[str, object] = {"logistic_regression_dev": round(float(logistic.score(flat[1], dev.emotions)), 4)}
    for n in steps:
        torch.manual_seed(seed)
        model = build_model(ParalinGPTConfig(standardise=True, emotion_aux_weight=aux_weight, prefix_warmup_steps=n))
        model.set_feature_stats(mean, std)
        warm_up_prefix(model, train, train_config)
        model.eval()
        with torch.no_grad():
            predicted = model.emotion_logits(model.prefix_of_pooled(pooled_dev)).argmax(1).tolist()
            prefixes = torch.nn.functional.normalize(model.prefix_of_pooled(pooled_dev).flatten(1), dim=1)
        right = sum(p == t for p, t in zip(predicted, dev.emotions, strict=True))
        cosine = float((prefixes @ prefixes.T).mean())
        result[f"warmup_{n}"] = {"dev_accuracy": round(right / len(predicted), 4), "prefix_cosine": round(cosine, 4)}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="packaged", help="model folder, or 'packaged'")
    parser.add_argument("--manifest", type=Path, default=None, help="CSV with path, emotion (and text)")
    parser.add_argument("--write-dev-split", type=Path, default=None, metavar="DATA", help="write the dev manifests")
    parser.add_argument("--work", type=Path, default=None, help="where the dev manifests are (written)")
    parser.add_argument("--probe", action="store_true", help="dev accuracy of the prefix warm-up and a linear probe")
    parser.add_argument("--warmup-steps", default="250,500,1000,2000", help="--probe: warm-up step counts")
    parser.add_argument("--aux-weight", type=float, default=0.5, help="--probe: emotion_aux_weight")
    parser.add_argument("--seed", type=int, default=0)
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
    if args.write_dev_split:
        print(*write_dev_split(args.write_dev_split, args.work))
        return 0
    if args.probe:
        steps = [int(n) for n in args.warmup_steps.split(",")]
        print(json.dumps(probe(args.work, steps, args.aux_weight, args.seed)))
        return 0
    model = ParalinGPT.from_pretrained(None if args.model == "packaged" else args.model, device="cpu")
    figures = evaluate(model, _rows(args.manifest), args.transcripts, args.replies, args.max_new_tokens)
    result = {"model": args.model, **figures}
    if args.json:
        print(json.dumps(result))
        return 0
    for key in ("n", "transcripts", "accuracy", "ua", "ua_4class", "recall", "recall_4class", "median_read_s",
                "median_asr_s", "complete_fields", "response_matches_strategy"):
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
