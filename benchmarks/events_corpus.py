"""Does a detector retrained on a corpus built from real speech hear real vocalizations better?

Compares the packaged event detector with detectors retrained on a paralinguistic corpus made by
``emotionlayer data paralinguistic`` (real recordings with bank events inserted at verified pauses), on real
vocalizations of speakers neither detector heard. One clip-level label per clip (``classify``), per-label F1
and macro-F1 over the labels both the references and the detector know.

Test data:

- the Deeply Nonverbal Vocalization sample (``nonverbal-dev``), its classes mapped with the package's
  ``deeply-nonverbal`` map (cough, sigh, throat_clearing, tsk, breath; the other classes are ``other``,
  which no detector here claims, so only the 51 clips of known labels are scored);
- the Coswara recordings of the participants kept out of the event bank (breath, cough), with ``--coswara``.

**The locked split.** The nonverbal speakers are split in two by a hash of the speaker id
(:func:`locked_half`): ``dev`` to choose the recipe on, ``test`` reported once for the chosen recipe. The
rule was fixed before any corpus-trained detector was scored. Coswara's held-out participants are scored
with ``--split test`` only.

Recipes (each a ``--members``-model ensemble trained like the packaged one: isolated bank recordings,
background noise, two augmented copies):

- ``packaged``: the detector that ships (no training);
- ``corpus``: the corpus's utterances in place of the packaged recipe's synthesised ones;
- ``corpus+synthetic``: both (with ``--synthetic``, a manifest from ``emotionlayer events make-data``).

Usage::

    python benchmarks/events_corpus.py --corpus corpus/manifest.jsonl \
        --nonverbal path/to/nonverbal-dev/manifest.csv --split dev [--synthetic para_train/manifest.jsonl]
    python benchmarks/events_corpus.py ... --split test --recipe corpus \
        --coswara path/to/events-cc-by/manifest.csv --save-model runs/detector-corpus
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from events_nonverbal import classify_all, read_rows, scores  # noqa: E402

RECIPES = ("packaged", "corpus", "corpus+synthetic")


def locked_half(speaker: str) -> str:
    """``test`` or ``dev`` for a speaker id: the parity of the first byte of its SHA-256 (fixed rule)."""
    return "test" if hashlib.sha256(speaker.encode("utf-8")).digest()[0] % 2 == 0 else "dev"


def coswara_rows(manifest: Path) -> list[dict[str, str]]:
    """The Coswara recordings of participants not in the packaged bank (as ``benchmarks/events.py``)."""
    from events import held_out_rows

    rows = held_out_rows(manifest)
    base = manifest.resolve().parent
    for row in rows:
        row["path"] = str(base / row["path"])
        row["mapped"] = row["label"]
    return rows


def train(recipe: str, args: argparse.Namespace, out_dir: Path) -> Path:
    """Train the recipe's ensemble into ``out_dir`` and return it."""
    from emotionlayer.paralinguistics.detection.model import combine
    from emotionlayer.paralinguistics.detection.train import train_detector

    manifests = [str(args.corpus)]
    if recipe == "corpus+synthetic":
        if args.synthetic is None:
            raise SystemExit("--recipe corpus+synthetic needs --synthetic MANIFEST (emotionlayer events make-data).")
        manifests.append(str(args.synthetic))
    members = []
    for member in range(args.members):
        model = train_detector(
            manifests,
            isolated_per_label=args.isolated,
            background=args.background,
            copies=args.copies,
            extra_speech=args.speech,
            seed=args.seed + member,
            max_recordings=args.max_recordings,
        )
        print(f"  {recipe} member {member}: {model.info['seconds']} s", file=sys.stderr, flush=True)
        members.append(model)
    combined = combine(members, {"recipe": recipe, "corpus": Path(args.corpus).name, "members": args.members})
    combined.save(out_dir)
    return out_dir


def known_only(rows: list[dict[str, str]], predictions: list[str]) -> dict:
    keep = [i for i, r in enumerate(rows) if r["mapped"] != "other"]
    return scores([rows[i]["mapped"] for i in keep], [predictions[i] for i in keep])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, required=True, help="the corpus's manifest.jsonl")
    parser.add_argument("--nonverbal", type=Path, required=True, help="path/to/nonverbal-dev/manifest.csv")
    parser.add_argument("--coswara", type=Path, default=None, help="path/to/events-cc-by/manifest.csv (test only)")
    parser.add_argument("--split", choices=("dev", "test"), default="dev", help="dev: choose; test: report once")
    parser.add_argument("--recipe", action="append", choices=RECIPES, default=None, help="repeatable (default: all)")
    parser.add_argument("--synthetic", type=Path, default=None, help="manifest.jsonl of synthesised utterances")
    parser.add_argument("--speech", action="append", default=[], help="plain speech files (speech windows)")
    parser.add_argument("--members", type=int, default=3, help="models per ensemble (the packaged one has 3)")
    parser.add_argument("--isolated", type=int, default=40, help="isolated bank recordings per label")
    parser.add_argument("--background", type=int, default=30, help="noise-only recordings")
    parser.add_argument("--copies", type=int, default=2, help="augmented copies of every recording")
    parser.add_argument("--max-recordings", type=int, default=None, help="use at most this many corpus rows")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--save-model", type=Path, default=None, help="keep the trained detector here (one --recipe besides packaged)"
    )
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args(argv)

    from emotionlayer.paralinguistics.detection.detector import VocalEventModel

    rows = [r for r in read_rows(args.nonverbal) if locked_half(r["speaker"]) == args.split]
    known = sum(r["mapped"] != "other" for r in rows)
    print(f"nonverbal {args.split} half: {len(rows)} clips ({known} of known labels)", file=sys.stderr)
    coswara = coswara_rows(args.coswara) if (args.coswara and args.split == "test") else []
    recipes = args.recipe or list(RECIPES)
    if args.synthetic is None and "corpus+synthetic" in recipes and args.recipe is None:
        recipes.remove("corpus+synthetic")
    trained = [recipe for recipe in recipes if recipe != "packaged"]
    if args.save_model and len(trained) != 1:
        raise SystemExit("--save-model keeps one trained detector: ask for one --recipe besides packaged.")
    out: dict = {"split": args.split, "clips": len(rows), "known": known, "recipes": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for recipe in recipes:
            started = time.time()
            if recipe == "packaged":
                detector = VocalEventModel()
            else:
                model_dir = args.save_model or Path(tmp) / recipe
                detector = VocalEventModel(model_dir=str(train(recipe, args, model_dir)))
            predictions = classify_all(detector, rows)
            result = {"nonverbal_known": known_only(rows, predictions)}
            if coswara:
                result["coswara"] = scores([r["mapped"] for r in coswara], classify_all(detector, coswara))
            result["seconds"] = round(time.time() - started, 1)
            out["recipes"][recipe] = result
            for name, data in result.items():
                if name == "seconds":
                    continue
                per = ", ".join(f"{k} {v['f1']:.2f} (n={v['support']})" for k, v in data["per_label"].items())
                print(
                    f"{recipe:<17} {name:<15} n={data['n']:<3} accuracy {data['accuracy']:.3f} "
                    f"macro-F1 {data['macro_f1_claimed_labels']:.3f} | {per}",
                    flush=True,
                )
    if args.json:
        args.json.write_text(json.dumps(out, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
