"""E-chat stage 1 for a fixed number of minutes on one GPU (or the CPU): throughput, loss and dev WER.

    python benchmarks/echat_gpu.py --manifest WORK/stage1.csv --split train --dev WORK/dev_asr.csv \
        --out WORK/gpu-s1 --minutes 8

One command. A 10-step probe run (which also fills the feature cache) measures the seconds per step; the main
run then gets as many steps as fit in the minutes left (its learning-rate schedule spans exactly those
steps); finally the model reads the dev clips through its LLM (``--alignment ctc``: through the CTC path)
and the WER is printed with the throughput, as one JSON object. On a GPU the LLM is loaded in bfloat16 and
the step runs under bf16 autocast (``mixed_precision`` and ``llm_dtype`` "auto"); on a CPU, float32. For
several GPUs, run the printed ``accelerate launch`` command instead (the trainer is the same).

``--manifest`` and ``--dev`` are the files ``python examples/echat_recipe.py manifests`` writes (the dev
speakers are held out of ``--split train``); never point ``--dev`` at the locked test_asr.csv while
choosing settings.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", type=Path, required=True, help="stage-1 manifest (path,text[,split])")
    parser.add_argument("--split", default="train", help="train on rows of this split (default: train)")
    parser.add_argument("--dev", type=Path, required=True, help="dev manifest (path,text) to measure the WER on")
    parser.add_argument("--out", type=Path, required=True, help="model folder to write (the probe run goes beside)")
    parser.add_argument("--minutes", type=float, default=8.0, help="wall-clock budget of the training (default 8)")
    parser.add_argument("--batch-size", type=int, default=16, help="clips per step (default 16)")
    parser.add_argument("--lr", type=float, default=5e-4, help="peak learning rate (default 5e-4)")
    parser.add_argument("--alignment", choices=("lm", "ctc"), default="lm", help="stage-1 objective (default lm)")
    parser.add_argument("--init", type=Path, default=None, help="start from this model folder (e.g. a CTC run)")
    parser.add_argument("--encoder", default="tiny.en", help="speech encoder (default the packaged tiny.en)")
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    parser.add_argument("--limit", type=int, default=None, help="at most this many dev clips")
    args = parser.parse_args(argv)

    import torch

    from benchmarks.echat import _rows, word_error_rate  # noqa: E402
    from emotionlayer.models.echat import EChat, EChatConfig, TrainConfig, train_echat

    if args.device == "cpu" or (args.device is None and not torch.cuda.is_available()):
        import os

        os.environ["ACCELERATE_USE_CPU"] = "true"  # accelerate picks the GPU whenever one is visible
    device = "cuda" if torch.cuda.is_available() and args.device != "cpu" else "cpu"
    model_config = EChatConfig(stage=1, encoder=args.encoder, alignment=args.alignment)
    started = time.perf_counter()

    def run(out: Path, steps: int) -> object:
        config = TrainConfig(
            batch_size=args.batch_size,
            learning_rate=args.lr,
            warmup_steps=min(100, steps // 10),
            max_steps=steps,
            save_every=0,
            mixed_precision="auto",
            llm_dtype="auto",
        )
        if out.exists():
            shutil.rmtree(out)
        return train_echat(args.manifest, out, model_config, config, init=args.init, split=args.split)

    probe = run(args.out.with_name(args.out.name + "-probe"), 10)
    per_step = float(probe.seconds_per_step)
    left = args.minutes * 60 - (time.perf_counter() - started)
    steps = max(10, int(left / per_step))
    print(f"probe: {per_step:.3f} s per step on {device}; the main run takes {steps} steps", file=sys.stderr)
    trained = time.perf_counter()
    result = run(args.out, steps)
    train_seconds = time.perf_counter() - trained
    model = EChat.from_pretrained(args.out, device=device)
    wer = word_error_rate(model, _rows(args.dev), args.limit, "ctc" if args.alignment == "ctc" else "llm")
    print(
        json.dumps(
            {
                "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
                "alignment": args.alignment,
                "steps": result.steps,
                "seconds_per_step": round(float(result.seconds_per_step), 4),
                "clips_per_second": round(args.batch_size / float(result.seconds_per_step), 2),
                "train_minutes": round(train_seconds / 60, 2),
                "first_loss": round(result.losses[0], 4),
                "last_loss_mean_20": round(sum(result.losses[-20:]) / len(result.losses[-20:]), 4),
                "dev": {"manifest": str(args.dev), **(wer or {})},
                "several_gpus": f"accelerate launch -m emotionlayer echat train --stage 1 --manifest {args.manifest} "
                f"--split {args.split} --out {args.out} --steps {steps} --batch-size {args.batch_size} "
                f"--lr {args.lr} --alignment {args.alignment}" + (f" --init {args.init}" if args.init else ""),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
