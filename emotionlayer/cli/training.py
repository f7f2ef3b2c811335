"""Options shared by the command groups of the trained dialogue models (``echat``, ``paralingpt``).

Both ``train`` commands take the same data, loop and cache options and turn them into a
:class:`~emotionlayer.models.common.config.TrainConfig` the same way, and both ``reply`` commands take
recordings, a model folder and a device; the model-specific options stay in their own command. An option
whose default differs per model is made by a function taking that default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

OUT: Any = typer.Option(..., "--out", "-o", help="Folder for checkpoints and the finished model.")
RESUME: Any = typer.Option(
    False, "--resume", help="Continue the run in --out from its newest checkpoint (same options; after a kill)."
)
ENCODER: Any = typer.Option(
    None, "--encoder", help="Speech encoder: tiny.en (default), base, or a local HuBERT/wav2vec2/WavLM/whisper folder."
)
LLM: Any = typer.Option(
    None, "--llm", help="Frozen LLM: a local causal-LM folder or .gguf file (default: the packaged SmolLM2)."
)
STEPS: Any = typer.Option(None, "--steps", min=1, help="Optimizer steps to run (overrides --epochs).")
GRAD_ACCUM: Any = typer.Option(None, "--grad-accum", min=1, help="Micro-batches per optimizer step (default 1).")
SAVE_EVERY: Any = typer.Option(None, "--save-every", min=0, help="Checkpoint every N steps (default 500).")
SPLIT: Any = typer.Option(None, "--split", help="Use only rows whose 'split' column has this value (e.g. train).")
CACHE_DIR: Any = typer.Option(
    None,
    "--cache-dir",
    help="Where encoder features are cached (default: the emotionlayer cache folder, shared by E-chat and ParalinGPT).",
)
NO_CACHE: Any = typer.Option(False, "--no-cache", help="Do not cache encoder features (run the encoder every step).")
SEED: Any = typer.Option(None, "--seed", help="Random seed (default 0); the same seed repeats the run.")
QUIET: Any = typer.Option(False, "--quiet", "-q", help="No progress bars.")
AUDIO: Any = typer.Argument(..., help="One or more recordings (WAV, FLAC, OGG or MP3).")
DEVICE: Any = typer.Option("auto", "--device", help="auto, cpu, cuda...")


def model_option(group: str) -> Any:
    """``--model`` of a ``reply`` command: a trained model folder (``group``: the command group that trains it)."""
    return typer.Option(
        None, "--model", help=f"A trained model folder (--out of `{group} train`); default: the packaged checkpoint."
    )


def given(overrides: dict[str, Any], **options: Any) -> dict[str, Any]:
    """``overrides`` (e.g. a config file's model settings) updated with every option given on the command line
    (``None``: not given)."""
    return {**overrides, **{name: value for name, value in options.items() if value is not None}}


def config_option(example: str) -> Any:
    """``--config``: a JSON file of model and train settings; ``example`` shows one."""
    return typer.Option(
        None,
        "--config",
        "-c",
        help=f'JSON file with "model" and/or "train" settings, e.g. {example}. Options given on the command line win.',
    )


def epochs_option(default: int) -> Any:
    """``--epochs``, documenting the model's default."""
    return typer.Option(None, "--epochs", min=1, help=f"Passes over the data (default {default}).")


def batch_size_option(unit: str, default: int) -> Any:
    """``--batch-size`` (``unit``: what a row is, e.g. "Clips"), documenting the model's default."""
    return typer.Option(None, "--batch-size", min=1, help=f"{unit} per micro-batch and device (default {default}).")


def lr_option(default: str) -> Any:
    """``--lr``, documenting the model's default."""
    return typer.Option(None, "--lr", help=f"Peak learning rate (default {default}).")


def train_config_from_options(
    base: Any,
    *,
    epochs: int | None,
    steps: int | None,
    batch_size: int | None,
    grad_accum: int | None,
    lr: float | None,
    save_every: int | None,
    seed: int | None,
    cache_dir: Path | None,
    no_cache: bool,
    **more: Any,
) -> Any:
    """``base`` (a ``TrainConfig``) with every option the user gave on the command line (``None``: not given)."""
    from ..models.common.config import train_config_with

    return train_config_with(
        base,
        epochs=epochs,
        max_steps=steps,
        batch_size=batch_size,
        grad_accum_steps=grad_accum,
        learning_rate=lr,
        save_every=save_every,
        seed=seed,
        cache_dir=str(cache_dir) if cache_dir is not None else None,
        cache_features=False if no_cache else None,
        **more,
    )


def report_trained(what: str, result: Any, out: Path) -> None:
    """Print the one-line summary of a finished training run."""
    final = f"{result.losses[-1]:.4f}" if result.losses else "n/a"
    typer.echo(f"Trained {what} for {result.steps} steps (final loss {final}); saved to {out}")
