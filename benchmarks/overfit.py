"""Can the training path learn? Overfit a few real clips with the real encoder and LLM, and measure on the same clips.

    python benchmarks/overfit.py echat1 --data DATA --work WORK --clips 32 --steps 400
    python benchmarks/overfit.py echat2 --data DATA --work WORK --clips 32 --steps 300 --init WORK/echat1-32
    python benchmarks/overfit.py paralingpt --data DATA --work WORK --clips 32 --steps 200

DATA is the shared data folder (its esd-en-0020/ and ravdess-dev/ are read); WORK holds the manifests, the
run folders (resumable checkpoints: add --resume after a kill) and a log per run. Every run trains on the
clips it is measured on: this is a test of the training code (can it drive the loss down and reproduce its
training targets?), not of generalisation.

* echat1: E-chat stage 1 on N clips of ESD speaker 0020 (real read speech with exact text, every clip
  another sentence, the emotions in turn). Goal: WER <= 0.1 on those clips (greedy, the ASR prompt).
* echat2: E-chat stage 2 on the same clips, the reply of each clip one fixed sentence per emotion (ESD has
  five). Goal: every training reply reproduced (greedy).
* paralingpt: ParalinGPT on N RAVDESS clips of actors 1-12 (the same number per emotion; actors 13-16 are
  never read), the transcript given, the same reply bank. Goal: the written emotion field right on the
  training clips.

Every --eval-every steps (and at the end) the model in memory is measured on its clips; the loss of every
step, the seconds and the measurements go to stdout and WORK/<run>.json. Set OMP_NUM_THREADS=1 on a
shared CPU.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

#: One reply per emotion: stage 2 and ParalinGPT must hear the emotion to write the right one.
REPLIES = {
    "neutral": "Thanks for telling me. What would you like to do next?",
    "calm": "It sounds like you are at ease. Let us keep going.",
    "happy": "That is wonderful news, I am so glad for you!",
    "sad": "I am so sorry. I am here for you if you want to talk.",
    "angry": "I understand why you are upset. Let us fix this together.",
    "fearful": "That sounds frightening. You are safe, take a slow breath.",
    "disgusted": "That sounds really unpleasant. I would not like it either.",
    "surprised": "Wow, I did not see that coming either!",
}
#: RAVDESS actors that are a locked test split: never read here.
LOCKED_ACTORS = {f"ravdess_actor{n}" for n in (13, 14, 15, 16)}


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _training_rows(folder: Path, picked: list[dict[str, str]]) -> list[dict[str, Any]]:
    """The training manifest's rows: absolute audio path, text, emotion and the reply of that emotion."""
    return [
        {"path": str((folder / r["path"]).resolve()), "text": r["text"], "emotion": r["emotion"],
         "reply": REPLIES[r["emotion"]]}
        for r in picked
    ]  # fmt: skip


def esd_manifest(data: Path, work: Path, clips: int) -> Path:
    """``clips`` ESD-0020 rows, each another sentence (ESD reads the same sentences in every emotion), the
    emotions in turn, with the reply of their emotion."""
    rows = _read(data / "esd-en-0020" / "manifest.csv")
    by_emotion: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_emotion.setdefault(row["emotion"], []).append(row)
    picked: list[dict[str, str]] = []
    said: set[str] = set()
    while len(picked) < clips and any(by_emotion.values()):
        for group in by_emotion.values():
            while group and group[0]["text"].lower() in said:
                group.pop(0)
            if group and len(picked) < clips:
                said.add(group[0]["text"].lower())
                picked.append(group.pop(0))
    return _write(work / f"esd-{clips}.csv", _training_rows(data / "esd-en-0020", picked))


def ravdess_manifest(data: Path, work: Path, clips: int) -> Path:
    """``clips`` RAVDESS clips of actors 1-12, the same number per emotion, spread over the actors."""
    rows = [r for r in _read(data / "ravdess-dev" / "manifest.csv") if r["speaker"] not in LOCKED_ACTORS]
    per = max(1, clips // len(REPLIES))
    picked = []
    for emotion in REPLIES:
        group = sorted((r for r in rows if r["emotion"] == emotion), key=lambda r: (r["path"][-8:], r["speaker"]))
        picked += group[:: max(1, len(group) // per)][:per]
    out = _training_rows(data / "ravdess-dev", picked)
    return _write(work / f"ravdess-{len(out)}.csv", out)


def measure(kind: str, model: Any, rows: list[dict[str, str]]) -> dict[str, Any]:
    """What the model writes for its own training clips: WER (stage 1), exact replies, emotion accuracy."""
    from emotionlayer.audio import load_audio
    from emotionlayer.evaluation.asr import error_rates

    model.model.eval()
    hyps, emotions = [], []
    for row in rows:
        audio = load_audio(row["path"], 16000)
        if kind == "paralingpt":
            out = model.reply(audio, row["text"], max_new_tokens=40)
            emotions.append(out.emotion.label)
        else:
            out = model.reply(audio, max_new_tokens=40)
            emotions.append(out.emotion.label if out.emotion else None)
        hyps.append(out.text.strip())
    model.model.train()
    refs = [row["text"] if kind == "echat1" else row["reply"] for row in rows]
    result: dict[str, Any] = {
        "exact": sum(h == r for h, r in zip(hyps, refs, strict=True)) / len(rows),
        "wer": round(float(error_rates(refs, hyps)["wer"] or 0.0), 4),
        "samples": [{"want": r, "got": h} for r, h in list(zip(refs, hyps, strict=True))[:3]],
    }
    if kind != "echat1":
        right = sum(e == row["emotion"] for e, row in zip(emotions, rows, strict=True))
        result["emotion_accuracy"] = right / len(rows)
        result["predicted"] = {e: emotions.count(e) for e in sorted(set(map(str, emotions)))}
    return result


def build_trainer(args: argparse.Namespace, manifest: Path, out: Path) -> Any:
    """The shared :class:`Trainer` with the recipe and settings of ``args.kind``."""
    from emotionlayer.models.common.config import TrainConfig
    from emotionlayer.models.common.training import Trainer

    train = TrainConfig(
        batch_size=args.batch_size,
        learning_rate=args.lr,
        warmup_steps=args.warmup,
        max_steps=args.steps,
        save_every=args.save_every,
        seed=args.seed,
        max_grad_norm=args.max_grad_norm,
    )
    if args.kind == "paralingpt":
        from emotionlayer.models.paralingpt import ParalinGPTConfig
        from emotionlayer.models.paralingpt.train import paralingpt_recipe

        config = ParalinGPTConfig(dropout=args.dropout, **json.loads(args.model_options))
        recipe = paralingpt_recipe(config)
    else:
        from emotionlayer.models.echat import EChatConfig
        from emotionlayer.models.echat.train import echat_recipe

        options = {"stage": 1 if args.kind == "echat1" else 2, "dropout": args.dropout}
        config = EChatConfig(**{**options, **json.loads(args.model_options)})
        recipe = echat_recipe(config, args.init)
    return Trainer(recipe, out, config, train, resume=args.resume, progress=False)


def wrap(kind: str, network: Any) -> Any:
    """The inference runner around a network in memory."""
    if kind == "paralingpt":
        from emotionlayer.models.paralingpt import ParalinGPT

        return ParalinGPT(network)
    from emotionlayer.models.echat import EChat

    return EChat(network)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train ``args.kind`` on its clips, measuring every ``eval_every`` steps; the log as a dict."""
    work = args.work
    make = ravdess_manifest if args.kind == "paralingpt" else esd_manifest
    manifest = make(args.data, work, args.clips)
    rows = _read(manifest)
    name = f"{args.kind}-{len(rows)}{args.tag}"
    trainer = build_trainer(args, manifest, work / name)
    log: dict[str, Any] = {"run": name, "clips": len(rows), "args": {k: str(v) for k, v in vars(args).items()}}
    started = time.perf_counter()
    trainer.set_up(manifest)
    trainer.resume()
    log["set_up_s"] = round(time.perf_counter() - started, 1)
    log["evals"] = []

    def evaluate() -> None:
        figures = measure(args.kind, wrap(args.kind, trainer.unwrapped), rows)
        figures.update(step=trainer.step_count, minutes=round((time.perf_counter() - started) / 60, 2))
        log["evals"].append(figures)
        print(json.dumps(figures), flush=True)

    while trainer.step_count < trainer.total_steps:
        loss = trainer.step()
        if trainer.step_count % 10 == 0:
            print(f"step {trainer.step_count} loss {loss:.4f} {time.perf_counter() - started:.0f}s", flush=True)
        if args.save_every and trainer.step_count % args.save_every == 0:
            trainer.save()
        if args.eval_every and trainer.step_count % args.eval_every == 0:
            evaluate()
        (work / f"{name}.json").write_text(json.dumps({**log, "losses": trainer.losses}))
    result = trainer.finish()
    if not log["evals"] or log["evals"][-1]["step"] != trainer.step_count:
        evaluate()
    log.update(losses=result.losses, seconds_per_step=result.seconds_per_step)
    log["minutes"] = round((time.perf_counter() - started) / 60, 2)
    (work / f"{name}.json").write_text(json.dumps(log))
    return log


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=("echat1", "echat2", "paralingpt"))
    parser.add_argument("--data", type=Path, required=True, help="the shared data folder")
    parser.add_argument("--work", type=Path, required=True, help="manifests, run folders and logs go here")
    parser.add_argument("--clips", type=int, default=32)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--max-grad-norm", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init", type=Path, default=None, help="echat2: the stage-1 run folder to start from")
    parser.add_argument("--model-options", default="{}", help="JSON of more model settings")
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--save-every", type=int, default=50)
    parser.add_argument("--tag", default="", help="added to the run's name")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--resume", action="store_true", help="continue the run from its newest checkpoint")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    log = run(args)
    last = log["evals"][-1]
    print(
        f"{log['run']}: {len(log['losses'])} steps, {log['minutes']} min, loss {log['losses'][0]:.3f} -> "
        f"{log['losses'][-1]:.3f}, wer {last['wer']}, exact {last['exact']:.2f}, "
        f"emotion {last.get('emotion_accuracy')}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
