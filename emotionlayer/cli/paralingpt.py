"""`emotionlayer paralingpt ...`: train the ParalinGPT baseline, and let it answer recordings."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from . import training as options

app = typer.Typer(
    help=(
        "ParalinGPT, the baseline E-chat is compared against: the ASR transcript as text plus a speech-emotion "
        "prefix (a trained projection of the speech encoder's layers into a few soft tokens) fed to a frozen LLM, "
        "which writes the turn's emotion, the reply's emotion and the reply in one pass. Packaged defaults: whisper "
        "tiny.en and SmolLM2-135M-Instruct."
    ),
    no_args_is_help=True,
)


@app.command("train")
def train(
    manifest: Path = typer.Option(
        ...,
        "--manifest",
        "-m",
        help="CSV or JSONL with columns path (relative to the manifest or absolute), text (the transcript), emotion, "
        "reply (or response), and optionally response_emotion and split.",
    ),
    out: Path = options.OUT,
    resume: bool = options.RESUME,
    config: Path | None = options.config_option('{"model": {"prefix_tokens": 8}, "train": {"warmup_steps": 100}}'),
    pipeline_config: Path | None = typer.Option(
        None,
        "--pipeline-config",
        help="Pipeline config (YAML/JSON) whose empathy strategies give the response emotion of each row "
        "(default: the packaged one; sad -> calm, angry -> calm, happy -> happy...).",
    ),
    encoder: str | None = options.ENCODER,
    llm: str | None = options.LLM,
    prefix_tokens: int | None = typer.Option(
        None, "--prefix-tokens", min=1, help="Soft prefix tokens the speech-emotion embedding becomes (default 4)."
    ),
    emotion_weight: float | None = typer.Option(
        None,
        "--emotion-weight",
        help="Loss weight of the emotion label's tokens (default 1: the plain language-model loss of the paper).",
    ),
    standardise: bool = typer.Option(
        False,
        "--standardise",
        help="Pool every encoder layer and standardise the features with training-set statistics before the layer "
        "mix (the prefix follows the audio more; needs more steps). See docs/paralingpt.md.",
    ),
    emotion_aux_weight: float | None = typer.Option(
        None,
        "--emotion-aux-weight",
        help="Weight of an auxiliary emotion classifier on the soft prefix, added to the LM loss (default 0: the "
        "paper's loss alone). See docs/paralingpt.md.",
    ),
    prefix_warmup: int | None = typer.Option(
        None,
        "--prefix-warmup",
        min=0,
        help="Train the prefix on the emotion labels alone for this many steps before the first step (seconds on "
        "a CPU; needs --standardise). Default 0.",
    ),
    emotion_token: bool = typer.Option(
        False,
        "--emotion-token",
        help="Not in the paper: one more input token after the transcript, the label words' embeddings weighted by "
        "the prefix classifier's posterior (sum_l p_l * e_l), so the frozen LLM sees close to the word it writes in "
        "the emotion field. Use with --standardise --emotion-aux-weight --prefix-warmup. See docs/paralingpt.md.",
    ),
    soft_prompt: bool = typer.Option(
        False,
        "--soft-prompt",
        help="Not in the paper; needs --emotion-token: the LLM reads K learned soft-prompt tokens (the same for every "
        "clip) in place of the K audio tokens, so the audio reaches it only through the emotion token.",
    ),
    warmup_manifest: Path | None = typer.Option(
        None,
        "--warmup-manifest",
        help="More clips (CSV/JSONL with path and emotion; no reply needed) for the prefix warm-up only, besides the "
        "training turns; rows with emotions the model does not write are left out. Needs --prefix-warmup.",
    ),
    epochs: int | None = options.epochs_option(10),
    steps: int | None = options.STEPS,
    batch_size: int | None = options.batch_size_option("Turns", 8),
    grad_accum: int | None = options.GRAD_ACCUM,
    lr: float | None = options.lr_option("5e-4"),
    save_every: int | None = options.SAVE_EVERY,
    split: str | None = options.SPLIT,
    cache_dir: Path | None = options.CACHE_DIR,
    no_cache: bool = options.NO_CACHE,
    seed: int | None = options.SEED,
    quiet: bool = options.QUIET,
) -> None:
    """Train the ParalinGPT adapter; the model is saved to --out (config.json + model.safetensors).

    Example: emotionlayer paralingpt train --manifest replies.jsonl --split train --out paralingpt --steps 400

    Several GPUs: accelerate launch -m emotionlayer paralingpt train ... (bf16 on GPUs that have it).
    """
    from dataclasses import replace

    from ..models.paralingpt.config import ParalinGPTConfig, default_train_config, read_config_file
    from ..models.paralingpt.train import train_paralingpt

    model_overrides, train_overrides = read_config_file(config) if config else ({}, {})
    model_overrides = options.given(
        model_overrides,
        encoder=encoder,
        llm=llm,
        prefix_tokens=prefix_tokens,
        emotion_weight=emotion_weight,
        standardise=True if standardise else None,
        emotion_aux_weight=emotion_aux_weight,
        prefix_warmup_steps=prefix_warmup,
        emotion_token=True if emotion_token else None,
        soft_prompt=True if soft_prompt else None,
    )
    model_config = ParalinGPTConfig.from_dict(model_overrides)
    train_base = replace(default_train_config(), **train_overrides)
    train_config = options.train_config_from_options(
        train_base,
        epochs=epochs,
        steps=steps,
        batch_size=batch_size,
        grad_accum=grad_accum,
        lr=lr,
        save_every=save_every,
        seed=seed,
        cache_dir=cache_dir,
        no_cache=no_cache,
    )
    result = train_paralingpt(
        manifest,
        out,
        model_config,
        train_config,
        resume=resume,
        split=split,
        pipeline_config=str(pipeline_config) if pipeline_config is not None else None,
        progress=not quiet,
        warmup_manifest=warmup_manifest,
    )
    options.report_trained("ParalinGPT", result, out)


@app.command("reply")
def reply(
    audio: list[Path] = options.AUDIO,
    model: Path | None = options.model_option("paralingpt"),
    text: str | None = typer.Option(
        None, "--text", help="What was said (the same for every recording); default: transcribe with the config's ASR."
    ),
    config: Path | None = typer.Option(
        None, "--config", "-c", help="Pipeline config (YAML/JSON) whose 'asr' section transcribes (default: packaged)."
    ),
    max_new_tokens: int = typer.Option(64, "--max-new-tokens", min=1, help="Most tokens written after the emotion."),
    device: str = options.DEVICE,
    as_json: bool = typer.Option(
        False,
        "--json",
        help="Print one JSON object per recording: path, transcript, text, emotion, response_emotion, raw, timings.",
    ),
) -> None:
    """Answer recordings with a trained ParalinGPT model (and show the emotions it wrote).

    Example: emotionlayer paralingpt reply examples/audio/sad_phone.wav --model paralingpt
    """
    from .. import registry
    from ..audio import load_audio
    from ..config import PipelineConfig
    from ..models.paralingpt.inference import ParalinGPT

    paralingpt = ParalinGPT.from_pretrained(model, device=device)
    asr = None
    if text is None:
        cfg = PipelineConfig.load(config) if config else PipelineConfig.default()
        asr = registry.create("asr", cfg.asr.backend, **cfg.asr.params)
    for path in audio:
        clip = load_audio(path)
        transcript = text if asr is None else asr.transcribe(clip).text
        output = paralingpt.reply(clip, transcript, max_new_tokens=max_new_tokens)
        if as_json:
            typer.echo(
                json.dumps({"path": str(path), "transcript": transcript, **output.to_dict()}, ensure_ascii=False)
            )
            continue
        heard = f"[{output.emotion.label} {output.emotion.confidence:.0%} -> {output.response_emotion or '?'}]"
        typer.echo(f"{path}: {heard} {output.text}")
