"""``emotionlayer llm`` commands: talk to a language-model backend directly.

:data:`app` is meant to be mounted as ``emotionlayer llm``; its commands parse options, call the library
and print.
"""

from __future__ import annotations

import json
import sys
import time

import typer

app = typer.Typer(
    help=(
        "Talk to the language model on its own (no audio): check that a backend works and see how fast "
        "it answers. Offline by default, with the packaged SmolLM2-135M-Instruct.\n\n"
        'Start with:  emotionlayer llm chat "I feel a bit down today."'
    ),
    no_args_is_help=True,
)

_SYSTEM = "You are a warm, supportive voice assistant. Answer in one or two short sentences."


def _backend_params(
    backend: str, model_path: str | None, base_url: str | None, model: str | None, **options: object
) -> dict[str, object]:
    params = dict(options)
    if model_path:
        params["model_path"] = model_path
    if backend == "openai":
        if base_url:
            params["base_url"] = base_url
        if model:
            params["model"] = model
    elif base_url or model:
        raise typer.BadParameter("--base-url and --model are for --backend openai; use --model-path here.")
    return params


@app.command("chat")
def chat(
    message: list[str] = typer.Argument(None, help="What to say. Leave out for an interactive chat (empty line ends)."),
    backend: str = typer.Option(
        "llama-cpp", "--backend", "-b", help="llama-cpp (offline default), transformers, or openai (an HTTP server)."
    ),
    model_path: str | None = typer.Option(
        None, "--model-path", help="llama-cpp: a .gguf file. transformers: a model folder. Default: packaged SmolLM2."
    ),
    base_url: str | None = typer.Option(
        None, "--base-url", help="openai: the server's API root, e.g. http://127.0.0.1:11434/v1 (or OPENAI_BASE_URL)."
    ),
    model: str | None = typer.Option(
        None, "--model", help="openai: model name on the server (or EMOTIONLAYER_LLM_MODEL; default: its first)."
    ),
    system: str = typer.Option(_SYSTEM, "--system", help="System prompt: who the assistant is and how it answers."),
    temperature: float = typer.Option(0.3, "--temperature", help="Randomness; 0 always gives the same reply."),
    seed: int = typer.Option(0, "--seed", help="Sampling seed: the same seed gives the same reply."),
    target_tokens: int = typer.Option(
        64, "--target-tokens", "--max-tokens", help="Length the reply aims for (it finishes its sentence)."
    ),
    as_json: bool = typer.Option(
        False, "--json", help='Print one JSON line per reply: {"reply", "model", "first_piece_s", "total_s"}.'
    ),
    adapter: str | None = typer.Option(
        None, "--adapter", help="llama-cpp/transformers: packaged (the pipeline's fine-tuned reply writer) or a folder."
    ),
) -> None:
    """Send a message to the LLM and print the reply as it streams in, with its timing.

    By default the bare model answers; --adapter packaged adds the reply writer the pipeline uses (it was
    trained on the pipeline's own prompt, so it suits `emotionlayer chat` and `respond` better than a raw chat).
    """
    from ..errors import EmotionLayerError
    from ..registry import create

    params = _backend_params(
        backend, model_path, base_url, model, temperature=temperature, seed=seed, target_tokens=target_tokens
    )
    if adapter:
        if backend == "openai":
            typer.echo("error: --adapter is for the llama-cpp and transformers backends.", err=True)
            raise typer.Exit(2)
        params["adapter"] = adapter
    try:
        llm = create("llm", backend, **params)
    except EmotionLayerError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    history = [{"role": "system", "content": system}] if system else []
    queue = [" ".join(message)] if message else None
    while True:
        if queue is not None:
            if not queue:
                return
            text = queue.pop()
        else:
            try:
                text = input("you> ").strip()
            except EOFError:
                return
            if not text:
                return
        history.append({"role": "user", "content": text})
        start = time.perf_counter()
        first: float | None = None
        pieces: list[str] = []
        if not as_json:
            typer.echo("bot> ", nl=False)
        try:
            for piece in llm.stream_generate(history):
                first = first if first is not None else time.perf_counter() - start
                pieces.append(piece)
                if not as_json:
                    typer.echo(piece, nl=False)
                    sys.stdout.flush()
        except EmotionLayerError as exc:
            typer.echo(f"\nerror: {exc}", err=True)
            raise typer.Exit(2) from None
        total = time.perf_counter() - start
        reply = "".join(pieces)
        if as_json:
            record = {
                "reply": reply,
                "model": llm.name,
                "first_piece_s": round(first or total, 3),
                "total_s": round(total, 3),
            }
            typer.echo(json.dumps(record))
        else:
            typer.echo("")
            typer.echo(f"  [{llm.name}: first piece {first or total:.2f} s, whole reply {total:.2f} s]", err=True)
        history.append({"role": "assistant", "content": reply})


@app.command("finetune")
def finetune(
    data: str = typer.Argument(..., help="StyleTalk train.csv (dialogue context, sentence, its style, the reply)."),
    out: str = typer.Option(..., "--out", "-o", help="Folder for checkpoints and the finished adapter."),
    config: str | None = typer.Option(
        None, "--config", "-c", help="Pipeline config whose prompt template, strategies and history to train on."
    ),
    steps: int = typer.Option(100, "--steps", help="Optimizer steps."),
    batch_size: int = typer.Option(8, "--batch-size", help="Examples per step."),
    learning_rate: float = typer.Option(4e-4, "--lr", help="Peak learning rate."),
    rank: int = typer.Option(16, "--rank", help="LoRA rank."),
    train_layers: int = typer.Option(
        10, "--train-layers", help="Adapters on this many top layers; the frozen layers below are computed once."
    ),
    limit: int | None = typer.Option(
        None, "--limit", help="Train on at most this many rows: every row of the rarer styles, then a seeded sample."
    ),
    dev_share: float = typer.Option(
        0.1, "--dev-share", help="Share of dialogues held out (by id) for choices; they are never trained on."
    ),
    earlier: bool = typer.Option(
        False,
        "--earlier-turns/--no-earlier-turns",
        help="Also train on the earlier exchanges in each dialogue's context (one more row per dialogue, "
        "style unknown so neutral).",
    ),
    cache: str | None = typer.Option(None, "--cache", help="Folder for the cached frozen-layer states."),
    model_path: str | None = typer.Option(
        None, "--model-path", help="Base model: a .gguf file or a transformers folder (default: packaged SmolLM2)."
    ),
    resume: bool = typer.Option(False, "--resume", help="Carry on from the newest checkpoint in --out."),
    threads: int | None = typer.Option(None, "--threads", help="CPU threads for torch (default: all)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the row sample, batch order and adapter initialisation."),
) -> None:
    """Fine-tune the packaged LLM's reply writing (LoRA adapters) on StyleTalk, on a CPU.

    Each example is rendered with the pipeline's own prompt (template, strategy of the sentence's style,
    conversation so far), so the adapter learns the form it is used in. The finished adapter is written in
    both forms the packaged backends load (peft for transformers, GGUF LoRA for llama.cpp); use it with
    llm.params.adapter: OUT in the config.

    Example:  emotionlayer llm finetune styletalk/train.csv --out runs/reply-writer --steps 210
    """
    from ..data.styletalk import earlier_exchanges, read_styletalk, split_dev
    from ..errors import EmotionLayerError
    from ..models.reply_writer.finetune import ReplyTuner, TuneConfig, examples_from_styletalk, sample_rows

    try:
        train, dev = split_dev(read_styletalk(data), dev_share)
        rows = sample_rows(train, limit, seed) if limit else train
        if earlier:
            rows = [*rows, *earlier_exchanges(rows)]
        examples = examples_from_styletalk(rows, config)
        tune = TuneConfig(
            steps=steps, batch_size=batch_size, learning_rate=learning_rate, rank=rank, alpha=2 * rank,
            train_layers=train_layers, seed=seed, threads=threads,
        )  # fmt: skip
        typer.echo(f"{len(examples)} training rows ({len(dev)} held out for choices); {steps} steps.", err=True)
        result = ReplyTuner(out, tune, cache=cache, model_path=model_path, resume=resume).run(examples)
    except EmotionLayerError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(2) from None
    first, last = result.losses[:5], result.losses[-5:]
    typer.echo(
        f"Adapter written to {result.out} ({result.examples} examples, {result.steps} steps; loss "
        f"{sum(first) / max(1, len(first)):.3f} -> {sum(last) / max(1, len(last)):.3f})."
    )


@app.command("evaluate")
def evaluate(
    data: str = typer.Argument(..., help="StyleTalk eval.csv (the locked test), or train.csv with --split dev."),
    config: str | None = typer.Option(None, "--config", "-c", help="Pipeline config (prompt, LLM); default packaged."),
    adapter: list[str] = typer.Option(
        [], "--adapter", help="Score with this adapter: none, packaged, or a folder. Repeat to compare."
    ),
    guard: list[str] = typer.Option([], "--guard", help="Score with this reply guard backend (none, default...)."),
    opener: list[str] = typer.Option(
        [], "--opener", help="Score with the strategy's openers off or on (run.opener). Repeat to compare."
    ),
    prosody: list[str] = typer.Option(
        [],
        "--prosody",
        help="Score with the sentence's speaking rate and loudness left out of the prompt or in it (off or on; "
        "prompt.prosody). Repeat to compare.",
    ),
    split: str = typer.Option("all", "--split", help="all: every row; dev: the dialogues finetune holds out."),
    limit: int | None = typer.Option(None, "--limit", help="Only the first N dialogues (all their styles)."),
    min_styles: int = typer.Option(
        1,
        "--min-styles",
        help="Only dialogues whose sentence comes in at least this many styles (2: where they differ).",
    ),
    cache: str | None = typer.Option(None, "--cache", help="Folder that keeps replies, so a killed run resumes."),
    out: str | None = typer.Option(None, "--out", "-o", help="Write the figures as JSON here (and .md beside it)."),
) -> None:
    """Score the reply writer on StyleTalk with the fair judge: perfect hearing, greedy, fixed references.

    Every row's true words, style (as an emotion) and conversation so far go through the config's prompt to
    its LLM; the reply is compared with the one StyleTalk's writers wrote for that sentence in that style
    (SIM, BLEU, reference discrimination, with 95% bootstrap intervals) and variants are compared pairwise.

    Example:  emotionlayer llm evaluate styletalk/eval.csv --adapter none --adapter packaged --cache runs/st

    Example:  emotionlayer llm evaluate styletalk/train.csv --split dev --opener off --opener on
    """
    from ..data.styletalk import read_styletalk, split_dev
    from ..errors import EmotionLayerError
    from ..evaluation.styletalk import evaluate_styletalk, markdown_table, variants

    try:
        rows = read_styletalk(data)
        if split == "dev":
            rows = split_dev(rows)[1]
        elif split != "all":
            raise typer.BadParameter("--split is all or dev.")
        if min_styles > 1:
            from collections import Counter

            count = Counter(r.dialogue for r in rows)
            rows = [r for r in rows if count[r.dialogue] >= min_styles]
        if limit:
            keep = list(dict.fromkeys(r.dialogue for r in rows))[:limit]
            rows = [r for r in rows if r.dialogue in set(keep)]
        scores, differences, _ = evaluate_styletalk(
            rows, variants(config, adapter, guard, openers=opener, prosody=prosody), cache
        )
    except EmotionLayerError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(2) from None
    table = markdown_table(scores, differences)
    typer.echo(table)
    if out:
        from pathlib import Path

        report = {
            "data": Path(data).name, "split": split, "rows": len(rows),
            "scores": {name: s.to_dict() for name, s in scores.items()},
            "differences": [d.to_dict() for d in differences],
        }  # fmt: skip
        Path(out).write_text(json.dumps(report, indent=1) + "\n")
        Path(out).with_suffix(".md").write_text(table + "\n")
