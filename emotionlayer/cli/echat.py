"""`emotionlayer echat ...`: train the E-chat end-to-end model, and let it answer recordings."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from . import training as options

app = typer.Typer(
    help=(
        "E-chat, an end-to-end emotion-sensitive speech LLM: a speech encoder, a small connector and a frozen "
        "LLM (packaged defaults: whisper tiny.en and SmolLM2-135M-Instruct). Train stage 1 on transcribed "
        "speech, then stage 2 on emotional replies, and ask it to answer recordings."
    ),
    no_args_is_help=True,
)


@app.command("train")
def train(
    stage: int = typer.Option(
        ...,
        "--stage",
        min=1,
        max=2,
        help=(
            "1: speech-text alignment (targets: the 'text' column; trains the connector). 2: emotional replies "
            "(targets: the 'reply' or 'response' column; also trains the emotion layer weights and head)."
        ),
    ),
    manifest: Path = typer.Option(
        ...,
        "--manifest",
        "-m",
        help="CSV or JSONL with columns path (relative to the manifest), text (stage 1), reply (stage 2), and "
        "emotion (optional; the emotion head's label).",
    ),
    out: Path = options.OUT,
    init: Path | None = typer.Option(
        None, "--init", help="Start from this trained model folder (stage 2 starts from the stage-1 --out folder)."
    ),
    resume: bool = options.RESUME,
    config: Path | None = options.config_option('{"model": {"connector_layers": 4}, "train": {"warmup_steps": 500}}'),
    encoder: str | None = options.ENCODER,
    llm: str | None = options.LLM,
    epochs: int | None = options.epochs_option(10),
    steps: int | None = options.STEPS,
    batch_size: int | None = options.batch_size_option("Clips", 8),
    grad_accum: int | None = options.GRAD_ACCUM,
    lr: float | None = options.lr_option("1e-4"),
    save_every: int | None = options.SAVE_EVERY,
    unfreeze_encoder: bool = typer.Option(
        False, "--unfreeze-encoder", help="Stage 1 only: fine-tune the speech encoder too (slower; no feature cache)."
    ),
    split: str | None = options.SPLIT,
    cache_dir: Path | None = options.CACHE_DIR,
    no_cache: bool = options.NO_CACHE,
    seed: int | None = options.SEED,
    emotion_warmup: int | None = typer.Option(
        None,
        "--emotion-warmup",
        min=0,
        help="Stage 2: first train the emotion layer weights and head alone on the emotion labels for N steps "
        "(no LLM; seconds on a CPU). Default 0.",
    ),
    emotion_loss_weight: float | None = typer.Option(
        None,
        "--emotion-loss-weight",
        min=0.0,
        max=1.0,
        help="a in (1 - a) * L_decoder + a * L_emotion (default: 0 in stage 1, 0.1 in stage 2).",
    ),
    alignment: str | None = typer.Option(
        None,
        "--alignment",
        help="Stage 1's objective. 'lm' (default, the paper's): the frozen LLM's loss on the transcript. 'ctc' "
        "(a fast pre-alignment, not in the paper): CTC from the connector's outputs onto the LLM's own token "
        "embeddings, without running the LLM; then start an 'lm' run from it with --init.",
    ),
    speech_tokens: str | None = typer.Option(
        None,
        "--speech-tokens",
        help="What reaches the LLM. 'frames' (default, the paper's): every connector frame. 'ctc' (not in the "
        "paper): one vector per token the CTC head reads, blanks dropped; needs --init from a model pre-aligned "
        "with --alignment ctc. Later runs started from such a model keep it.",
    ),
    emotion_input: str | None = typer.Option(
        None,
        "--emotion-input",
        help="Stage 2: how the LLM gets the emotion. 'projector' (default, the paper's): a learned vector after "
        "BOS. 'words' (not in the paper): the emotion head's probabilities mix the LLM's own embeddings of the "
        "label words ('sad', 'happy'...) into one vector on a 'Tone:' line after the instruction.",
    ),
    quiet: bool = options.QUIET,
) -> None:
    """Train one E-chat stage; the model is saved to --out (config.json + model.safetensors).

    Stage 1: emotionlayer echat train --stage 1 --manifest asr.csv --out echat-s1

    Stage 2: emotionlayer echat train --stage 2 --manifest replies.jsonl --init echat-s1 --out echat-s2

    Fast stage 1 on a CPU: --alignment ctc first, then a run with --init from it and --speech-tokens ctc.

    Several GPUs: accelerate launch -m emotionlayer echat train ... (bf16 on GPUs that have it).
    """
    from ..models.common.config import TrainConfig
    from ..models.echat.checkpoint import read_config
    from ..models.echat.config import read_config_file
    from ..models.echat.train import stage_config, train_echat

    model_overrides, train_overrides = read_config_file(config) if config else ({}, {})
    base = read_config(init)[0] if init is not None else None
    if unfreeze_encoder and stage != 1:
        raise typer.BadParameter("--unfreeze-encoder is for stage 1 only.", param_hint="--unfreeze-encoder")
    model_overrides = options.given(
        model_overrides,
        encoder=encoder,
        llm=llm,
        unfreeze_encoder=True if unfreeze_encoder else None,
        emotion_loss_weight=emotion_loss_weight,
        emotion_warmup_steps=emotion_warmup,
        alignment=alignment,
        speech_tokens=speech_tokens,
        emotion_input=emotion_input,
    )
    model_config = stage_config(stage, base, model_overrides)
    train_config = options.train_config_from_options(
        TrainConfig.from_dict(train_overrides),
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
    result = train_echat(
        manifest, out, model_config, train_config, init=init, resume=resume, split=split, progress=not quiet
    )
    options.report_trained(f"E-chat stage {stage}", result, out)


@app.command("reply")
def reply(
    audio: list[Path] = options.AUDIO,
    model: Path | None = options.model_option("echat"),
    prompt: str | None = typer.Option(None, "--prompt", help="Instruction instead of the model's stage prompt."),
    max_new_tokens: int = typer.Option(128, "--max-new-tokens", min=1, help="Most tokens per answer."),
    device: str = options.DEVICE,
    as_json: bool = typer.Option(
        False, "--json", help="Print one JSON object per recording: path, text, emotion, timings."
    ),
) -> None:
    """Answer recordings with a trained E-chat model (and show the emotion it heard).

    Example: emotionlayer echat reply examples/audio/sad_phone.wav --model echat-s2
    """
    from ..audio import load_audio
    from ..models.echat.inference import EChat

    echat = EChat.from_pretrained(model, device=device)
    for path in audio:
        output = echat.reply(load_audio(path), prompt=prompt, max_new_tokens=max_new_tokens)
        if as_json:
            typer.echo(json.dumps({"path": str(path), **output.to_dict()}, ensure_ascii=False))
            continue
        heard = f"  [{output.emotion.label} {output.emotion.confidence:.0%}]" if output.emotion else ""
        typer.echo(f"{path}:{heard} {output.text}")
