"""Choose and train the multi-corpus SER head on the training side of the locked protocol.

The locked test split (:mod:`emotionlayer.ser.corpora`) is never read here: ``select`` compares recipes by
grouped, speaker-disjoint validation on the training side only (4 folds; no speaker in two folds), and
``train`` fits the chosen recipe on the whole training side, fits the softmax temperature on the
out-of-fold predictions, and writes the model folder. Score the locked split once with
``python benchmarks/ser.py``.

Encoder features are cached on disk (``~/.cache/emotionlayer/ser-features``), so a second run is fast.

Usage:
    python benchmarks/ser_multicorpus.py select --manifest R.csv --manifest C.csv --manifest U.csv [--json]
    python benchmarks/ser_multicorpus.py train --manifest R.csv --manifest C.csv --manifest U.csv --out DIR
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from emotionlayer.labels import EMOTIONS, FOUR_CLASS  # noqa: E402

#: What each corpus is scored on in validation (its own labels) and the macro average over them.
SCORED = {"ravdess": 8, "casia": 6, "urdu": 4}


def training_rows(manifests: list[str]):
    """The training side of the given manifests (the locked test rows are dropped here, before anything)."""
    from emotionlayer.data.manifest import read_manifest
    from emotionlayer.ser.corpora import corpus_of, split_rows

    rows = []
    for manifest in manifests:
        rows += list(read_manifest(manifest, require_emotion=True))
    train, _ = split_rows(rows)
    return train, [corpus_of(row) for row in train]


def nonspeech_audio(n: int = 128, seed: int = 1234):
    """Synthetic non-speech for training (distinct from emotionlayer.testing's generators used in tests):
    coloured noise, chords with envelopes, mains hum with harmonics, clicks, near-silence, band-limited
    noise, digital silence and melodies of single notes (random pitches and timbres), 1-4 s."""
    from emotionlayer.types import Audio

    rng = np.random.default_rng(seed)
    sr = 16000
    clips = []
    for i in range(n):
        seconds = float(rng.uniform(1.0, 4.0))
        t = np.arange(int(seconds * sr)) / sr
        kind = i % 8
        if kind == 0:  # coloured noise, random slope
            spectrum = rng.standard_normal(t.size // 2 + 1) + 1j * rng.standard_normal(t.size // 2 + 1)
            spectrum /= np.maximum(np.arange(t.size // 2 + 1), 1) ** rng.uniform(0.0, 1.0)
            x = np.fft.irfft(spectrum, t.size)
        elif kind == 1:  # chords with note changes and decays
            x = np.zeros_like(t)
            for start in np.arange(0, seconds, rng.uniform(0.2, 0.6)):
                f = 110 * 2 ** (rng.integers(0, 36) / 12)
                env = np.exp(-np.clip(t - start, 0, None) * rng.uniform(2, 8)) * (t >= start)
                x += env * sum(np.sin(2 * np.pi * f * k * t) / k for k in (1, 2, 3))
        elif kind == 2:  # hum with harmonics
            f = rng.choice([50.0, 60.0])
            x = sum(rng.uniform(0.2, 1) * np.sin(2 * np.pi * f * k * t) for k in range(1, 6))
        elif kind == 3:  # clicks and ticks
            x = np.zeros_like(t)
            x[rng.integers(0, t.size, size=int(seconds * rng.uniform(2, 20)))] = 1.0
            x += 0.01 * rng.standard_normal(t.size)
        elif kind == 4:  # near-silence (quiet electronic noise)
            x = rng.standard_normal(t.size) * 1e-4
        elif kind == 6:  # digital silence, sometimes with a DC offset or a single click
            x = np.zeros_like(t) + (rng.uniform(-1e-3, 1e-3) if rng.random() < 0.5 else 0.0)
            if rng.random() < 0.3:
                x[rng.integers(0, t.size)] = 0.5
        elif kind == 7:  # a melody of single notes with random timbre, length and decay
            x = np.zeros_like(t)
            length = rng.uniform(0.15, 0.7)
            for start in np.arange(0, seconds, length):
                f = 80 * 2 ** (rng.integers(0, 48) / 12)
                env = np.exp(-np.clip(t - start, 0, None) * rng.uniform(0.5, 6)) * ((t >= start) & (t < start + length))
                x += env * sum(rng.uniform(0, 1) / k * np.sin(2 * np.pi * f * k * t) for k in range(1, 6))
        else:  # band-limited noise (fan, rain)
            from scipy.signal import butter, sosfilt

            low = rng.uniform(100, 2000)
            sos = butter(2, [low, min(7900, low * rng.uniform(1.5, 4))], btype="bandpass", fs=sr, output="sos")
            x = sosfilt(sos, rng.standard_normal(t.size))
        if np.abs(x).max() > 0:
            x = x / np.abs(x).max() * rng.uniform(0.01, 0.5)
        clips.append(Audio(x.astype(np.float32), sr))
    return clips


def nonspeech_statistics(encoder: str, n: int = 128, seed: int = 1234) -> np.ndarray:
    """Pooled layer statistics of :func:`nonspeech_audio` (cached)."""
    from emotionlayer.ser.cache import cache_dir
    from emotionlayer.ser.features import DEFAULT_LEVEL_DB, WhisperFeatures

    file = cache_dir() / f"nonspeech-{encoder}-{n}-{seed}.npy"
    if file.is_file():
        return np.load(file, allow_pickle=False)
    extractor = WhisperFeatures(encoder=encoder, level_db=DEFAULT_LEVEL_DB)
    stats = []
    for audio in nonspeech_audio(n, seed):
        frames = extractor.extract_frames(audio)
        stats.append(np.concatenate([frames.mean(axis=1), frames.std(axis=1)], axis=1))
    out = np.stack(stats).astype(np.float32)
    np.save(file, out, allow_pickle=False)
    return out


def corpus_scores(
    logits: np.ndarray, head_labels: list[str], labels: list[str], corpora: list[str], temperature: float = 1.0
) -> dict:
    """UA per corpus over its own labels (plus RAVDESS 4-class), macro over corpora, log loss and ECE."""
    from emotionlayer.evaluation.metrics import classification_report
    from emotionlayer.ser.corpora import CORPUS_LABELS
    from emotionlayer.ser.multicorpus import expected_calibration_error, restricted_probabilities

    out: dict = {}
    for corpus in sorted(set(corpora)):
        idx = [i for i, c in enumerate(corpora) if c == corpus]
        allowed = [label for label in EMOTIONS if label in CORPUS_LABELS.get(corpus, set(labels))]
        probs = restricted_probabilities(logits[idx], head_labels, allowed, temperature)
        refs = [labels[i] for i in idx]
        preds = [allowed[int(k)] for k in probs.argmax(axis=1)]
        ref_index = [allowed.index(r) for r in refs]
        entry = {
            "n": len(idx),
            "classes": len(allowed),
            "ua": classification_report(refs, preds, allowed).unweighted_accuracy,
            "log_loss": float(-np.mean(np.log(np.clip(probs[np.arange(len(idx)), ref_index], 1e-12, None)))),
            "ece": expected_calibration_error(probs, ref_index),
        }
        if corpus == "ravdess":
            keep = [j for j, r in enumerate(refs) if r in FOUR_CLASS]
            p4 = restricted_probabilities(logits[[idx[j] for j in keep]], head_labels, list(FOUR_CLASS), temperature)
            entry["ua_4class"] = classification_report(
                [refs[j] for j in keep], [FOUR_CLASS[int(k)] for k in p4.argmax(axis=1)], list(FOUR_CLASS)
            ).unweighted_accuracy
        out[corpus] = entry
    scored = [out[c]["ua"] for c in SCORED if c in out]
    out["macro_ua"] = float(np.mean(scored)) if scored else None
    return out


def fit_temperature(logits: np.ndarray, head_labels: list[str], labels: list[str], corpora: list[str]) -> float:
    """The temperature minimising the mean log loss over corpora (each over its own labels)."""
    best, best_loss = 1.0, float("inf")
    for t in np.round(np.arange(0.5, 6.01, 0.05), 2):
        scores = corpus_scores(logits, head_labels, labels, corpora, float(t))
        loss = float(np.mean([scores[c]["log_loss"] for c in sorted(set(corpora))]))
        if loss < best_loss:
            best, best_loss = float(t), loss
    return best


def load_features(rows, encoder: str, augmentations: list[list[str]]):
    from emotionlayer.ser.cache import layer_statistics

    clean = layer_statistics(rows, encoder)
    return clean, [layer_statistics(rows, encoder, augmentation=a) for a in augmentations]


def fit(recipe: dict, x, labels, corpora, nonspeech):
    """Train one recipe; returns a LogisticHead (all recipes export to it)."""
    from emotionlayer.ser.heads import LogisticHead
    from emotionlayer.ser.multicorpus import MultiCorpusRecipe, fit_multicorpus_head

    if recipe["kind"] == "logreg":  # the previous default's recipe: sklearn LR, C=0.03, no masks
        keep = [i for i, c in enumerate(corpora) if c in recipe.get("corpora", set(corpora))]
        head = LogisticHead(C=recipe.get("C", 0.03), clip=4.0)
        head.fit(x[keep].reshape(len(keep), -1), [labels[i] for i in keep])
        return head
    params = {k: v for k, v in recipe.items() if k not in ("kind", "name", "augment", "encoder")}
    ns = nonspeech if params.get("nonspeech_weight", 0) > 0 else None
    return fit_multicorpus_head(x, labels, corpora, MultiCorpusRecipe(**params), nonspeech=ns)


def out_of_fold(recipe: dict, clean, augmented, labels, corpora, folds, nonspeech) -> tuple[np.ndarray, list[str]]:
    """Out-of-fold logits (over all 8 labels; a head lacking a label gives it -inf) of every clip."""
    logits = np.full((len(labels), len(EMOTIONS)), -1e9)
    order = sorted(EMOTIONS)
    folds = np.asarray(folds)
    for fold in sorted(set(folds.tolist())):
        train = np.where(folds != fold)[0]
        test = np.where(folds == fold)[0]
        x = np.concatenate([clean[train]] + [a[train] for a in augmented])
        y = [labels[i] for i in train] * (1 + len(augmented))
        c = [corpora[i] for i in train] * (1 + len(augmented))
        head = fit(recipe, x, y, c, nonspeech)
        fold_logits = head.logits(clean[test].reshape(len(test), -1))
        for k, label in enumerate(head.labels):
            logits[test, order.index(label)] = fold_logits[:, k]
    return logits, order


AUGMENT_SETS = {"none": [], "noise-reverb": [["noise", "reverb"]], "all": [["noise", "reverb"], ["codec"], ["speed"]]}

RECIPES: list[dict] = [
    {"name": "previous default: LR C=0.03, RAVDESS only", "kind": "logreg", "C": 0.03, "corpora": {"ravdess"}},
    {"name": "LR C=0.03, all corpora, one softmax (no masks)", "kind": "logreg", "C": 0.03},
    {
        "name": "masked linear over all layers, wd 1e-3",
        "kind": "masked",
        "layer_weighting": False,
        "weight_decay": 1e-3,
    },
    {"name": "masked, layer-weighted, wd 1e-3", "kind": "masked", "layer_weighting": True, "weight_decay": 1e-3},
    {"name": "masked, layer-weighted, wd 1e-2", "kind": "masked", "layer_weighting": True, "weight_decay": 1e-2},
    {"name": "masked, layer-weighted, wd 1e-4", "kind": "masked", "layer_weighting": True, "weight_decay": 1e-4},
    {"name": "masked, layer-weighted, corpus sqrt", "kind": "masked", "corpus_balance": "sqrt"},
    {"name": "masked, layer-weighted, + non-speech 0.5", "kind": "masked", "nonspeech_weight": 0.5},
    {
        "name": "masked, layer-weighted, wd 1e-4, + non-speech 0.5",
        "kind": "masked",
        "weight_decay": 1e-4,
        "nonspeech_weight": 0.5,
    },
    {"name": "masked, layer-weighted, + non-speech 1.0", "kind": "masked", "nonspeech_weight": 1.0},
    {"name": "masked, layer-weighted, + non-speech 0.25", "kind": "masked", "nonspeech_weight": 0.25},
    {"name": "masked, layer-weighted, + non-speech 2.0", "kind": "masked", "nonspeech_weight": 2.0},
    {
        "name": "masked, layer-weighted, wd 1e-2, + non-speech 1.0",
        "kind": "masked",
        "weight_decay": 1e-2,
        "nonspeech_weight": 1.0,
    },
    {"name": "masked, layer-weighted, + non-speech 4.0", "kind": "masked", "nonspeech_weight": 4.0},
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["select", "train"])
    parser.add_argument("--manifest", action="append", required=True, help="emotion manifest (repeat per corpus)")
    parser.add_argument("--encoder", default="tiny.en")
    parser.add_argument("--augment", default="none", choices=sorted(AUGMENT_SETS), help="augmented copies in training")
    parser.add_argument("--recipes", default="", help="comma-separated recipe indices (select; default all)")
    parser.add_argument("--recipe", type=int, default=3, help="recipe index to train (train)")
    parser.add_argument("--out", help="model folder to write (train)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from emotionlayer.ser.corpora import validation_folds

    rows, corpora = training_rows(args.manifest)
    labels = [row.emotion for row in rows]
    folds = validation_folds(rows)
    clean, augmented = load_features(rows, args.encoder, AUGMENT_SETS[args.augment])
    nonspeech = nonspeech_statistics(args.encoder)
    if args.command == "select":
        chosen = [int(i) for i in args.recipes.split(",") if i] or list(range(len(RECIPES)))
        results = []
        for index in chosen:
            recipe = RECIPES[index]
            started = time.time()
            logits, order = out_of_fold(recipe, clean, augmented, labels, corpora, folds, nonspeech)
            temperature = fit_temperature(logits, order, labels, corpora)
            scores = corpus_scores(logits, order, labels, corpora, temperature)
            result = {
                "recipe": index,
                "name": recipe["name"],
                "encoder": args.encoder,
                "augment": args.augment,
                "temperature": temperature,
                "seconds": round(time.time() - started, 1),
                **scores,
            }
            results.append(result)
            if args.json:
                print(json.dumps(result), flush=True)
            else:
                per = ", ".join(f"{c} {scores[c]['ua']:.1%}" for c in SCORED if c in scores)
                four = scores.get("ravdess", {}).get("ua_4class")
                print(
                    f"[{index}] {recipe['name']} ({args.encoder}, augment {args.augment}): macro "
                    f"{scores['macro_ua']:.1%} | "
                    f"{per} | ravdess 4-class {four:.1%} | T {temperature}",
                    flush=True,
                )
        return
    recipe = RECIPES[args.recipe]
    logits, order = out_of_fold(recipe, clean, augmented, labels, corpora, folds, nonspeech)
    temperature = fit_temperature(logits, order, labels, corpora)
    validation = corpus_scores(logits, order, labels, corpora, temperature)
    x = np.concatenate([clean] + augmented)
    head = fit(recipe, x, labels * (1 + len(augmented)), corpora * (1 + len(augmented)), nonspeech)
    head.temperature = temperature
    write_model(head, args, recipe, rows, corpora, validation)
    print(json.dumps({"temperature": temperature, "validation": validation}, indent=1))


def write_model(head, args, recipe, rows, corpora, validation) -> None:
    from emotionlayer.ser.corpora import LOCKED_TEST_SPEAKERS
    from emotionlayer.ser.features import DEFAULT_LEVEL_DB, WhisperFeatures
    from emotionlayer.ser.model import SERMember, SERModel

    if not args.out:
        raise SystemExit("--out is required for train")
    features = WhisperFeatures(encoder=args.encoder, layers="all", pooling="meanstd", level_db=DEFAULT_LEVEL_DB)
    counts: dict = {}
    for row, corpus in zip(rows, corpora, strict=True):
        counts.setdefault(corpus, {}).setdefault(row.emotion, 0)
        counts[corpus][row.emotion] += 1
    metadata = {
        "trained_on": {
            "description": "training side of the locked SER protocol: RAVDESS actors 1-12, CASIA speakers "
            "ZhaoZuoxiang and liuchanhg, URDU minus 5 locked speakers (ESD is a locked cross-corpus test only)",
            "clips": len(rows),
            "speakers": len({row.speaker for row in rows}),
            "label_counts_per_corpus": counts,
            "augmentation": AUGMENT_SETS[args.augment],
            "locked_test_speakers": {k: sorted(v) for k, v in LOCKED_TEST_SPEAKERS.items()},
        },
        "recipe": {k: (sorted(v) if isinstance(v, set) else v) for k, v in recipe.items()},
        "layer_mix": getattr(head, "layer_mix", None),
        "temperature": head.temperature,
        "validation": validation,
        "licence": "CC BY-NC-SA 4.0 (RAVDESS) and research-only terms (CASIA, URDU): non-commercial research use only",
    }
    model = SERModel([SERMember(features, head)], name="emotionlayer-ser-tiny-v3", metadata=metadata)
    model.save(args.out, card=card(model, validation))


def card(model, validation: dict) -> str:
    """The MODEL_CARD.md written next to the weights (the locked-test figures are added once measured)."""
    meta = model.metadata
    lines = [
        f"# SER model card: {model.name}",
        "",
        "Full card: docs/model-card-ser.md in the emotionlayer repository.",
        "",
        "## Model",
        "",
        f"- features: `{model.members[0].features.spec}`",
        f"- head: multi-corpus masked-softmax linear head, exported as `logreg` (temperature {meta['temperature']})",
        f"- recipe: {meta['recipe']['name']}",
        f"- layer weights: {[round(v, 3) for v in meta['layer_mix'] or []]}",
        f"- labels: {', '.join(model.labels)}",
        "",
        "## Training data",
        "",
        f"- {meta['trained_on']['description']}",
        f"- {meta['trained_on']['clips']} clips, {meta['trained_on']['speakers']} speakers",
        f"- clips per corpus and label: {meta['trained_on']['label_counts_per_corpus']}",
        "- plus 128 synthetic non-speech clips (noise, chords, melodies, hum, clicks, silence) trained towards the "
        "uniform "
        "distribution",
        "",
        "## Validation (grouped, speaker-disjoint, 4 folds on the training side; chose the recipe)",
        "",
        "| corpus | classes | UA | ECE |",
        "|---|---|---|---|",
    ]
    for corpus in SCORED:
        if corpus in validation:
            v = validation[corpus]
            lines.append(f"| {corpus} | {v['classes']} | {v['ua']:.1%} | {v['ece']:.3f} |")
    lines += [
        f"| macro | | {validation['macro_ua']:.1%} | |",
        "",
        "## Licence",
        "",
        meta["licence"],
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
