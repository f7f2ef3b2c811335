"""E-chat on held-out speech: WER of a stage-1 model, emotion accuracy of a stage-2 model, sample replies.

    python benchmarks/echat.py --asr-model echat-work/s1 --model echat-work/s2 --work echat-work [--json]
    python benchmarks/echat.py --model packaged --work echat-work      # the checkpoint shipped in the package
    python benchmarks/echat.py --asr-model echat-work/ctc --dev echat-work/dev_asr.csv --read ctc --work echat-work

--work is the folder written by `python examples/echat_recipe.py manifests`: it holds the locked test
manifests (test_asr.csv: real read speech of Common Voice speakers never trained on; test_tts.csv: the
generated dataset's test split in a held-out voice; test_emotion.csv: RAVDESS actors never trained on).
Targets for the packaged checkpoint: WER <= 0.5 on real read speech, 4-class (neutral/happy/sad/angry)
unweighted accuracy >= 0.65 on unseen RAVDESS actors.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import time
from pathlib import Path

FOUR = ("neutral", "happy", "sad", "angry")


def _rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def word_error_rate(
    model, rows: list[dict[str, str]], limit: int | None, read: str = "llm"
) -> dict[str, float] | None:
    """WER of the model's stage-1 transcripts (whisper's English normaliser, as `evaluate asr`).

    ``read="ctc"``: the CTC pre-alignment's own best path instead of the LLM (models trained with
    ``--alignment ctc``)."""
    if not rows:
        return None
    from emotionlayer.audio import load_audio
    from emotionlayer.evaluation.asr import error_rates

    rows = rows[:limit] if limit else rows
    hyps, refs, seconds = [], [], []
    for row in rows:
        start = time.perf_counter()
        audio = load_audio(row["path"], 16000)
        if read == "ctc":
            text = model.ctc_transcribe(audio)
        else:
            text = model.reply(audio, prompt=model.config.asr_prompt, max_new_tokens=48).text
        seconds.append(time.perf_counter() - start)
        hyps.append(text)
        refs.append(row["text"])
    wer = error_rates(refs, hyps)["wer"]
    return {
        "wer": round(wer, 4) if wer is not None else None,
        "n": len(rows),
        "median_s": round(statistics.median(seconds), 3),
    }


def emotion_accuracy(model, rows: list[dict[str, str]]) -> dict[str, float] | None:
    """Accuracy and unweighted accuracy of the emotion head, over all labels and over the four basic ones."""
    if not rows:
        return None
    from emotionlayer.audio import load_audio
    from emotionlayer.evaluation.metrics import classification_report

    truth, predicted, predicted4 = [], [], []
    for row in rows:
        prediction = model.predict_emotion(load_audio(row["path"], 16000))
        truth.append(row["emotion"])
        predicted.append(prediction.label)
        four = {label: p for label, p in prediction.probabilities.items() if label in FOUR}
        predicted4.append(max(four, key=four.get))
    keep = [i for i, label in enumerate(truth) if label in FOUR]
    all_labels = classification_report(truth, predicted)
    four_labels = classification_report([truth[i] for i in keep], [predicted4[i] for i in keep], labels=list(FOUR))
    return {
        "accuracy": round(all_labels.accuracy, 4),
        "ua": round(all_labels.unweighted_accuracy, 4),
        "ua_4class": round(four_labels.unweighted_accuracy, 4),
        "n": len(rows),
        "n_4class": len(keep),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="packaged", help="stage-2 model folder, or 'packaged'")
    parser.add_argument(
        "--asr-model", default=None, help="stage-1 model folder for WER (default: --model with the ASR prompt)"
    )
    parser.add_argument("--work", type=Path, required=True, help="folder with the locked test manifests")
    parser.add_argument("--limit", type=int, default=None, help="at most this many clips per WER set")
    parser.add_argument("--replies", type=int, default=4, help="print this many replies to real clips")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--skip-wer", action="store_true", help="leave out the WER sets (e.g. when measured already)")
    parser.add_argument("--skip-emotion", action="store_true", help="leave out the emotion set and the replies")
    parser.add_argument(
        "--dev",
        type=Path,
        default=None,
        help="only the WER of --asr-model on this manifest (path,text), e.g. the recipe's dev_asr.csv; the locked "
        "sets are not read",
    )
    parser.add_argument(
        "--read",
        choices=("llm", "ctc"),
        default="llm",
        help="how a stage-1 model reads: through its LLM (default), or the CTC pre-alignment's own best path",
    )
    args = parser.parse_args(argv)

    from emotionlayer.audio import load_audio
    from emotionlayer.models.echat import EChat

    if args.dev is not None:
        dev_model = EChat.from_pretrained(args.asr_model or args.model, device="cpu")
        figures = word_error_rate(dev_model, _rows(args.dev), args.limit, args.read)
        name = args.asr_model or args.model
        print(json.dumps({"asr_model": name, "dev": str(args.dev), "read": args.read, **(figures or {})}))
        return 0
    model = EChat.from_pretrained(None if args.model == "packaged" else args.model, device="cpu")
    asr_model = EChat.from_pretrained(args.asr_model, device="cpu") if args.asr_model else model
    result: dict[str, object] = {"model": args.model, "asr_model": args.asr_model or args.model}
    wer_sets = {} if args.skip_wer else {"real_read_speech": "test_asr.csv", "tts_held_out_voice": "test_tts.csv"}
    for key, name in wer_sets.items():
        result[key] = word_error_rate(asr_model, _rows(args.work / name), args.limit, args.read)
    emotion_rows = [] if args.skip_emotion else _rows(args.work / "test_emotion.csv")
    result["ravdess_unseen_actors"] = emotion_accuracy(model, emotion_rows) if model.config.stage == 2 else None
    samples = []
    for row in emotion_rows[: args.replies * 6 : 6]:
        out = model.reply(load_audio(row["path"], 16000), max_new_tokens=48)
        samples.append(
            {
                "clip": Path(row["path"]).name,
                "said": row["text"],
                "emotion": row["emotion"],
                "heard": out.emotion.label if out.emotion else None,
                "reply": out.text,
            }
        )
    result["replies"] = samples
    if args.json:
        print(json.dumps(result))
        return 0
    for key in ("real_read_speech", "tts_held_out_voice", "ravdess_unseen_actors"):
        if key in result:
            print(f"{key:<24}{json.dumps(result[key])}")
    for sample in samples:
        print(f"- {sample['clip']} ({sample['emotion']}, heard {sample['heard']}): {sample['reply']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
