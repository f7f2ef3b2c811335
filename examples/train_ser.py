"""Train a speech emotion model, check it on unseen speakers, and use it.

    python examples/train_ser.py path/to/manifest.csv [--out my-ser] [--features whisper-tiny.en] [--augment speed]

The manifest is a CSV or JSONL with columns path (relative to the manifest), emotion and speaker.
Without a manifest, the script trains a toy model on the eight clips in examples/audio (one synthetic
voice, emotion taken from the file name) just to show the calls; its accuracy means nothing.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from emotionlayer.audio import load_audio
from emotionlayer.data import ManifestRow
from emotionlayer.evaluation.ser import evaluate_ser
from emotionlayer.registry import create
from emotionlayer.ser import train_ser

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifest", nargs="?", help="labelled manifest (CSV/JSONL); default: the toy example clips")
    parser.add_argument("--out", default=None, help="where to save the model (default: a temporary folder)")
    parser.add_argument("--features", default="whisper-tiny.en")
    parser.add_argument("--head", default="logreg")
    parser.add_argument("--augment", default="", help="comma-separated: speed,pitch,gain,noise")
    args = parser.parse_args()

    out = Path(args.out or tempfile.mkdtemp(prefix="emotionlayer-ser-"))
    if args.manifest:
        data = args.manifest
        cross_validate = True
    else:
        clips = sorted((HERE / "audio").glob("*_phone.wav"))
        data = [ManifestRow(path=str(p), emotion=p.stem.split("_")[0], speaker="piper-joe") for p in clips]
        cross_validate = False  # one speaker: nothing to hold out
        print(f"No manifest given: training a toy model on {len(data)} example clips.")

    # 1. Train (features -> classifier), cross-validate leaving speakers out, save with a model card.
    model, cv = train_ser(
        data,
        out=out,
        features=args.features,
        head=args.head,
        augment=[a for a in args.augment.split(",") if a],
        cross_validate=cross_validate,
        progress=True,
    )
    print(f"Saved {model.name} to {out} (labels: {', '.join(model.labels)})")
    if cv is not None:
        print(f"Unseen speakers: unweighted accuracy {cv.report.unweighted_accuracy:.1%}", end="")
        print(f", 4-class {cv.four_class.unweighted_accuracy:.1%}" if cv.four_class else "")

    # 2. Use it as an SER component (the same object a pipeline config would build).
    ser = create("ser", "default", model=str(out))
    clip = HERE / "audio" / "sad_phone.wav"
    prediction = ser.predict(load_audio(clip))
    print(f"{clip.name}: {prediction.label} ({', '.join(f'{k} {v:.0%}' for k, v in prediction.top(3))})")

    # 3. Evaluate it (on the training data here: only to show the call).
    if args.manifest:
        result = evaluate_ser(args.manifest, model=str(out), labels="neutral,happy,sad,angry")
        print(f"4-class accuracy on the (training) manifest: {result.report.unweighted_accuracy:.1%}")
    print(f"Model card: {out / 'MODEL_CARD.md'}")


if __name__ == "__main__":
    main()
