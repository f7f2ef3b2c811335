"""Benchmark the offline LLM backends on the packaged SmolLM2-135M-Instruct GGUF.

Measures, per backend: model load time, time to the first token, decoding speed (tokens/s after the
first token) and the wall time of a ~40-token reply (greedy, no sentence limit). llama-cpp reads the
GGUF natively; transformers loads the same file with ``gguf_file=`` (de-quantised to float32).

    python benchmarks/llm.py                      # table
    python benchmarks/llm.py --json               # one JSON object
    python benchmarks/llm.py --backends llama-cpp --runs 5 --threads 2

Figures depend on the machine and on what else runs on it; the load average is printed with them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from typing import Any

MESSAGES = [
    {"role": "system", "content": "You are a kind voice assistant."},
    {"role": "user", "content": "Tell me a story about a dragon who learns to sing."},
]
SECOND_TURN = [
    *MESSAGES,
    {"role": "assistant", "content": "Once upon a time, a dragon named Ember wanted to sing."},
    {"role": "user", "content": "What happened next?"},
]


def _timed_tokens(backend: Any, messages: list[dict[str, str]], max_tokens: int) -> tuple[float, float, int]:
    """(seconds to first token, total seconds, tokens) for one greedy generation of raw tokens."""
    options = {"max_tokens": max_tokens, "sentence_grace": 0, "temperature": 0.0, "max_sentences": None}
    start = time.perf_counter()
    first = None
    count = 0
    for _ in backend.token_pieces(messages, **options):
        count += 1
        if first is None:
            first = time.perf_counter() - start
    total = time.perf_counter() - start
    return (first if first is not None else total), total, count


def bench_backend(name: str, threads: int | None, runs: int, max_tokens: int) -> dict[str, Any]:
    """Load one backend and time it; returns the figures as a dict."""
    from emotionlayer.registry import create

    params: dict[str, Any] = {}
    if name == "llama-cpp":
        params["n_threads"] = threads
        params["cache_prompt"] = False  # time whole prompts; the cache is measured separately below
    elif name == "transformers":
        import torch

        if threads:
            torch.set_num_threads(threads)
        params["device"] = "cpu"
    backend = create("llm", name, **params)
    start = time.perf_counter()
    backend.load()
    load_s = time.perf_counter() - start

    _timed_tokens(backend, MESSAGES, 4)  # warm up caches and kernels
    firsts, rates, totals, counts = [], [], [], []
    for _ in range(runs):
        first, total, count = _timed_tokens(backend, MESSAGES, max_tokens)
        firsts.append(first)
        totals.append(total)
        counts.append(count)
        if count > 1:
            rates.append((count - 1) / (total - first))
    shaped = []
    for _ in range(runs):
        start = time.perf_counter()
        backend.generate(MESSAGES, temperature=0.0)
        shaped.append(time.perf_counter() - start)
    result: dict[str, Any] = {
        "backend": name,
        "model": backend.name,
        "threads": threads if threads else getattr(backend, "n_threads", None) or _torch_threads(),
        "load_s": round(load_s, 3),
        "first_token_s": round(statistics.median(firsts), 3),
        "tokens_per_s": round(statistics.median(rates), 1) if rates else None,
        "reply_tokens": int(statistics.median(counts)),
        "reply_s": round(statistics.median(totals), 3),
        "default_reply_s": round(statistics.median(shaped), 3),
    }
    if name == "llama-cpp":
        # a second dialogue turn, whose prompt starts with the first turn's: evaluated whole, or reusing
        # the cached first turn (cache_prompt=True, the default)
        cached = create("llm", "llama-cpp", n_threads=threads, cache_prompt=True)
        fresh_firsts, cached_firsts = [], []
        for _ in range(runs):
            fresh_firsts.append(_timed_tokens(backend, SECOND_TURN, 1)[0])
            _timed_tokens(cached, MESSAGES, 1)
            cached_firsts.append(_timed_tokens(cached, SECOND_TURN, 1)[0])
        result["second_turn_first_token_s"] = round(statistics.median(fresh_firsts), 3)
        result["second_turn_first_token_cached_s"] = round(statistics.median(cached_firsts), 3)
    return result


def _torch_threads() -> int | None:
    try:
        import torch

        return torch.get_num_threads()
    except ImportError:
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="llama-cpp,transformers", help="comma-separated backend names")
    parser.add_argument("--runs", type=int, default=3, help="timed generations per figure (median reported)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: each backend's own)")
    parser.add_argument("--max-tokens", type=int, default=40, help="tokens in the timed reply")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)

    results = [
        bench_backend(name.strip(), args.threads, args.runs, args.max_tokens) for name in args.backends.split(",")
    ]
    report = {
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_1m": round(os.getloadavg()[0], 2),
            "platform": platform.platform(),
            "python": sys.version.split()[0],
        },
        "prompt_messages": MESSAGES,
        "results": results,
    }
    if len(results) > 1:
        fastest = min(results, key=lambda r: r["reply_s"])
        report["fastest"] = fastest["backend"]
    if args.json:
        print(json.dumps(report))
        return 0
    columns = [
        "backend",
        "threads",
        "load_s",
        "first_token_s",
        "tokens_per_s",
        "reply_tokens",
        "reply_s",
        "default_reply_s",
    ]
    widths = [max(len(c), *(len(str(r.get(c))) for r in results)) for c in columns]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for r in results:
        print("  ".join(str(r.get(c)).ljust(w) for c, w in zip(columns, widths, strict=True)))
    for r in results:
        if "second_turn_first_token_s" in r:
            print(
                f"{r['backend']}: second-turn first token {r['second_turn_first_token_s']} s fresh, "
                f"{r['second_turn_first_token_cached_s']} s with cache_prompt=True"
            )
    print(f"load average (1 min) {report['machine']['load_average_1m']} on {report['machine']['cpus']} CPUs")
    if "fastest" in report:
        print(f"fastest: {report['fastest']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
