"""`emotionlayer ser ...` (train, predict) and `emotionlayer evaluate ser`."""

from __future__ import annotations

import json
from pathlib import Path

import typer

app = typer.Typer(
    help=(
        "Speech emotion recognition: train a model on your own labelled clips, or predict the emotion of "
        "recordings. The packaged default model works out of the box."
    ),
    no_args_is_help=True,
)

_FEATURES_HELP = (
    "What the classifier sees: whisper-tiny.en (default; fast), whisper-base, egemaps (openSMILE, needs "
    "emotionlayer[opensmile]), ssl:path/to/hubert-or-wav2vec2-folder (needs emotionlayer[transformers]); "
    "join with + to combine, e.g. whisper-tiny.en+egemaps."
)
_HEAD_HELP = (
    "Classifier: logreg (logistic regression; default, fast, robust), svm (RBF support vector machine), "
    "attentive (PyTorch: learned layer weights + attentive pooling + MLP; slower)."
)


@app.command("train")
def train(
    manifest: Path = typer.Option(
        ...,
        "--manifest",
        "-m",
        help="CSV or JSONL with columns path (relative to the manifest), emotion, and speaker (for --cv).",
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Folder to write the model and its MODEL_CARD.md to."),
    features: str = typer.Option("whisper-tiny.en", "--features", "-f", help=_FEATURES_HELP),
    head: str = typer.Option("logreg", "--head", help=_HEAD_HELP),
    augment: str = typer.Option(
        "",
        "--augment",
        help="Extra augmented copies of every clip, comma-separated: speed, pitch, gain, noise, reverb, codec (one "
             "copy each).",
    ),
    labels: str | None = typer.Option(
        None, "--labels", help="Train on these emotions only, e.g. neutral,happy,sad,angry."
    ),
    cv: bool | None = typer.Option(
        None,
        "--cv/--no-cv",
        help="Leave-speakers-out cross-validation, written to the model card. Default: on when every row has a "
             "speaker.",
    ),
    folds: int | None = typer.Option(None, "--folds", min=2, help="Cross-validation folds (default: one per speaker)."),
    name: str | None = typer.Option(
        None, "--name", help="Model name reported in predictions (default: features-head)."
    ),
    licence: str = typer.Option(
        "", "--licence", help="Licence of the trained weights for the model card (they inherit the data's terms)."
    ),
    description: str = typer.Option("", "--description", help="One line about the training data, for the model card."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    device: str = typer.Option("cpu", "--device", help="torch device (cpu, cuda)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Train a speech emotion model on a labelled manifest and save it with a model card.

    Example: emotionlayer ser train --manifest path/to/ravdess/manifest.csv --out my-ser --augment speed,noise

    Then use it: emotionlayer evaluate ser --manifest other.csv --model my-ser
    """
    from ..data.manifest import read_manifest
    from ..ser.train import train_ser

    rows = read_manifest(manifest, require_emotion=True)
    if cv is None:
        cv = all(row.speaker for row in rows) and len({row.speaker for row in rows}) >= 2
    copies = [[a.strip()] for a in augment.split(",") if a.strip()]
    model, result = train_ser(
        rows,
        out=out,
        features=features,
        head=head,
        augment=copies,
        labels=labels,
        cross_validate=cv,
        n_folds=folds,
        name=name,
        licence=licence,
        data_description=description or f"{manifest.name}: {len(rows)} clips",
        seed=seed,
        progress=not quiet,
        device=device,
    )
    typer.echo(f"Saved {model.name} ({', '.join(model.labels)}) to {out}")
    if result is not None:
        s = result.summary()
        line = f"Leave-speakers-out CV ({s['folds']} folds): unweighted accuracy {s['unweighted_accuracy']:.1%}"
        if result.four_class is not None:
            line += f", 4-class {result.four_class.unweighted_accuracy:.1%}"
        typer.echo(line)
    typer.echo(f"Model card: {out / 'MODEL_CARD.md'}")


@app.command("predict")
def predict(
    audio: list[Path] = typer.Argument(..., help="One or more recordings (WAV, FLAC, OGG or MP3; 0.3-60 s)."),
    model: str = typer.Option(
        "default", "--model", help="default (packaged model), a registered SER backend, or a trained model folder."
    ),
    labels: str | None = typer.Option(
        None, "--labels", help="Decide among these emotions only, e.g. neutral,happy,sad,angry."
    ),
    top: int = typer.Option(3, "--top", min=1, help="How many labels to show with their probabilities."),
    as_json: bool = typer.Option(
        False, "--json", help="Print one JSON object per recording: path, label, probabilities, model."
    ),
) -> None:
    """Print the emotion heard in recordings, with probabilities.

    Example: emotionlayer ser predict examples/audio/sad_phone.wav --top 3
    """
    from ..audio import load_audio
    from ..evaluation.ser import build_recogniser
    from ..labels import restrict

    recogniser = build_recogniser(model, "cpu")
    for path in audio:
        prediction = recogniser.predict(load_audio(path))
        probs = restrict(prediction.probabilities, labels) if labels else prediction.probabilities
        ranked = sorted(probs.items(), key=lambda kv: -kv[1])
        if as_json:
            typer.echo(
                json.dumps(
                    {"path": str(path), "label": ranked[0][0], "probabilities": probs, "model": prediction.model}
                )
            )
        else:
            shown = ", ".join(f"{k} {v:.0%}" for k, v in ranked[:top])
            typer.echo(f"{path}: {ranked[0][0]}  ({shown})")


def evaluate_ser(
    manifest: Path = typer.Option(
        ..., "--manifest", "-m", help="CSV or JSONL with columns path (relative to the manifest) and emotion."
    ),
    model: str = typer.Option(
        "default", "--model", help="default (packaged model), a registered SER backend name, or a trained model folder."
    ),
    labels: str | None = typer.Option(
        None,
        "--labels",
        help="Decide among these emotions only (argmax over them; aliases such as joy or anger work); other clips "
             "are skipped.",
    ),
    plot: Path | None = typer.Option(None, "--plot", help="Write the confusion matrix to this PNG file."),
    limit: int | None = typer.Option(None, "--limit", "-n", min=1, help="Score only the first N clips."),
    as_json: bool = typer.Option(
        False,
        "--json",
        help='Print one JSON object {"n", "accuracy", "unweighted_accuracy", "macro_f1", "per_label", "confusion"} '
             'and nothing else.',
    ),
    per_corpus: bool = typer.Option(
        False,
        "--per-corpus",
        help="Score every corpus of the manifest (its corpus column or speaker prefix) separately, each over its own "
        "labels, and the macro average over corpora.",
    ),
    locked_test: bool = typer.Option(
        False,
        "--locked-test",
        help="Score only the clips of the locked test split (emotionlayer.ser.corpora); implies --per-corpus.",
    ),
) -> None:
    """Accuracy of a speech emotion model on recordings with known emotions.

    Unweighted accuracy (UA) is the mean recall over emotions, so a model that always answers the most
    common emotion scores low.

    Example: emotionlayer evaluate ser --manifest path/to/manifest.csv --labels neutral,happy,sad,angry --plot cm.png
    """
    from ..evaluation.ser import evaluate_ser as run

    if per_corpus or locked_test:
        from ..data.manifest import read_manifest

        rows = list(read_manifest(manifest, require_emotion=True))
        data = evaluate_per_corpus(
            rows, model=model, labels=labels, locked_test=locked_test, limit=limit, progress=not as_json
        )
        if as_json:
            typer.echo(json.dumps(data))
            return
        typer.echo(f"Model: {data['model']}" + ("  (locked test split)" if locked_test else ""))
        for corpus, figures in data["corpora"].items():
            extra = (
                f", 4-class UA {figures['unweighted_accuracy_4class']:.1%}"
                if "unweighted_accuracy_4class" in figures
                else ""
            )
            typer.echo(
                f"  {corpus:<10} n={figures['n']:<5} {len(figures['labels'])} classes  UA "
                f"{figures['unweighted_accuracy']:.1%}"
                f"  ECE {figures['ece']:.3f}{extra}"
            )
        typer.echo(f"  macro UA over {len(data['corpora'])} corpora: {data['macro_unweighted_accuracy']:.1%}")
        return
    result = run(manifest, model=model, labels=labels, limit=limit, progress=not as_json)
    if plot is not None:
        result.plot(plot)
    if as_json:
        typer.echo(json.dumps(result.to_dict()))
        return
    r = result.report
    typer.echo(f"Model:               {result.model}")
    typer.echo(
        f"Clips:               {r.n}"
        + (f" ({result.skipped} skipped: label not in --labels)" if result.skipped else "")
    )
    typer.echo(f"Accuracy:            {r.accuracy:.1%}")
    typer.echo(f"Unweighted accuracy: {r.unweighted_accuracy:.1%}")
    typer.echo(f"Macro F1:            {r.macro_f1:.1%}")
    typer.echo("Per label (recall / precision / clips):")
    for label, scores in r.per_label.items():
        if scores.support or any(row[r.labels.index(label)] for row in r.confusion):
            typer.echo(f"  {label:<10} {scores.recall:6.1%} {scores.precision:6.1%} {scores.support:5d}")
    if plot is not None:
        typer.echo(f"Confusion matrix: {plot}")


def evaluate_per_corpus(
    rows: list,
    model: str = "default",
    labels: str | None = None,
    locked_test: bool = False,
    limit: int | None = None,
    progress: bool = False,
) -> dict:
    """Score a SER model on every corpus of ``rows`` separately, each over its own labels.

    Args:
        rows: Manifest rows (their corpus comes from the ``corpus`` column or the speaker-id prefix).
        model: As for :func:`emotionlayer.evaluation.ser.evaluate_ser`.
        labels: Decide among these labels only (intersected with each corpus's labels).
        locked_test: Keep only the locked test split of :mod:`emotionlayer.ser.corpora`.
        limit: At most this many clips per corpus.
        progress: Show progress bars.

    Returns:
        ``{"model", "locked_test", "corpora": {corpus: {"n", "labels", "unweighted_accuracy", "accuracy",
        "macro_f1", "ece", "mean_confidence", "per_label", "confusion"[, "unweighted_accuracy_4class"]}},
        "macro_unweighted_accuracy"}``.
    """
    import numpy as np

    from ..evaluation.ser import build_recogniser
    from ..evaluation.ser import evaluate_ser as run
    from ..labels import EMOTIONS, FOUR_CLASS, canonical_list
    from ..ser.corpora import CORPUS_LABELS, corpus_of, is_locked_test
    from ..ser.multicorpus import calibration_error

    recogniser = build_recogniser(model)
    known = list(getattr(recogniser, "labels", []) or EMOTIONS)
    wanted = canonical_list(labels) if labels else None
    groups: dict[str, list] = {}
    for row in rows:
        if locked_test and not is_locked_test(row):
            continue
        groups.setdefault(corpus_of(row), []).append(row)
    out: dict = {"model": getattr(recogniser, "name", str(model)), "locked_test": locked_test, "corpora": {}}
    for corpus in sorted(groups):
        present = {row.emotion for row in groups[corpus]}
        own = CORPUS_LABELS.get(corpus) or tuple(label for label in EMOTIONS if label in present)
        allowed = [
            label for label in EMOTIONS if label in own and label in known and (wanted is None or label in wanted)
        ]
        chosen = [row for row in groups[corpus] if row.emotion in allowed]
        if len(allowed) < 2 or not chosen:
            continue
        result = run(chosen, model=recogniser, labels=allowed, limit=limit, progress=progress)
        figures = result.to_dict()
        figures["labels"] = allowed
        figures["mean_confidence"] = float(np.mean([item.confidence for item in result.items]))
        figures["ece"] = calibration_error(
            [item.confidence for item in result.items], [item.prediction == item.reference for item in result.items]
        )
        if corpus == "ravdess" and all(label in allowed for label in FOUR_CLASS):
            four = run(
                [r for r in chosen if r.emotion in FOUR_CLASS],
                model=recogniser,
                labels=list(FOUR_CLASS),
                progress=False,
            )
            figures["unweighted_accuracy_4class"] = four.report.unweighted_accuracy
        out["corpora"][corpus] = figures
    scores = [f["unweighted_accuracy"] for f in out["corpora"].values()]
    out["macro_unweighted_accuracy"] = float(np.mean(scores)) if scores else None
    return out
