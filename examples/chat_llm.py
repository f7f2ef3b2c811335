"""Chat with an emotionlayer LLM backend, streaming the reply as it is generated.

Offline, with the packaged SmolLM2-135M-Instruct (no download, no server):

    python examples/chat_llm.py "I feel a bit down today."

Interactive (an empty line or Ctrl-D ends):

    python examples/chat_llm.py

Through an OpenAI-compatible server (Ollama, vLLM, llama.cpp server):

    python examples/chat_llm.py --backend openai --base-url http://127.0.0.1:11434/v1 --model llama3.2 "Hi!"

or with OPENAI_BASE_URL / EMOTIONLAYER_LLM_MODEL / OPENAI_API_KEY set in the environment.
"""

from __future__ import annotations

import argparse
import sys
import time

from emotionlayer.errors import EmotionLayerError
from emotionlayer.registry import create

SYSTEM = "You are a warm, supportive voice assistant. Answer in one or two short sentences."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Chat with an emotionlayer LLM backend (replies stream as they come).")
    parser.add_argument("message", nargs="*", help="what to say; leave out for an interactive chat")
    parser.add_argument("--backend", default="llama-cpp", help="llama-cpp (default, offline), transformers or openai")
    parser.add_argument("--model-path", help="llama-cpp: a .gguf file; transformers: a model folder")
    parser.add_argument("--base-url", help="openai: the server's API root, e.g. http://127.0.0.1:11434/v1")
    parser.add_argument("--model", help="openai: the model name the server knows")
    parser.add_argument("--temperature", type=float, default=0.3, help="0 is greedy (always the same reply)")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed")
    parser.add_argument("--max-tokens", type=int, default=64, help="length the reply aims for")
    args = parser.parse_args(argv)

    params: dict[str, object] = {"temperature": args.temperature, "seed": args.seed, "max_tokens": args.max_tokens}
    if args.model_path:
        params["model_path"] = args.model_path
    if args.backend == "openai":
        params.update({k: v for k, v in (("base_url", args.base_url), ("model", args.model)) if v})
    try:
        llm = create("llm", args.backend, **params)
    except EmotionLayerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    history = [{"role": "system", "content": SYSTEM}]
    pending = [" ".join(args.message)] if args.message else None
    print(f"[{llm.name}]", file=sys.stderr)
    while True:
        if pending is not None:
            if not pending:
                return 0
            text = pending.pop()
        else:
            try:
                text = input("you> ").strip()
            except EOFError:
                return 0
            if not text:
                return 0
        history.append({"role": "user", "content": text})
        start = time.perf_counter()
        first = None
        pieces = []
        print("bot> ", end="", flush=True)
        try:
            for piece in llm.stream_generate(history):
                if first is None:
                    first = time.perf_counter() - start
                pieces.append(piece)
                print(piece, end="", flush=True)
        except EmotionLayerError as exc:
            print(f"\nerror: {exc}", file=sys.stderr)
            return 1
        total = time.perf_counter() - start
        print(f"\n  (first piece {first or total:.2f} s, whole reply {total:.2f} s)", file=sys.stderr)
        history.append({"role": "assistant", "content": "".join(pieces)})


if __name__ == "__main__":
    raise SystemExit(main())
