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
) -> None:
    """Send a message to the LLM and print the reply as it streams in, with its timing."""
    from ..errors import EmotionLayerError
    from ..registry import create

    params = _backend_params(
        backend, model_path, base_url, model, temperature=temperature, seed=seed, target_tokens=target_tokens
    )
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
