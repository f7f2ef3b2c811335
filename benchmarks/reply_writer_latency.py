"""What the reply-writer adapter and the reply guard cost before the first words can be spoken.

For each StyleTalk row (the dialogues ``llm finetune`` holds out of train.csv, by default), the prompt is
rendered as the cascade renders it and the reply is written by each variant in turn (bare model, adapter,
adapter + guard...), interleaved row by row so that a busy machine slows every variant alike, each from
the whole prompt (no prompt state kept between calls). It reports
the median and 90th percentile of the time to the end of the first sentence (what the voice waits for)
and to the whole reply, and the ratio of each variant to the first.

    python benchmarks/reply_writer_latency.py STYLETALK/train.csv --rows 30
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

VARIANTS = {
    "bare": ({"adapter": None}, None),
    "adapter": ({"adapter": "packaged"}, None),
    "adapter + guard": ({"adapter": "packaged"}, "default"),
}


def first_sentence_time(pieces) -> tuple[float, float, str]:
    """Seconds to the end of the first sentence and to the end, and the text, of a stream of pieces."""
    from emotionlayer.text import pop_sentences

    start = time.perf_counter()
    first, text = None, ""
    for piece in pieces:
        text += piece
        if first is None and pop_sentences(text)[0]:
            first = time.perf_counter() - start
    total = time.perf_counter() - start
    return (first if first is not None else total), total, text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", help="A StyleTalk CSV.")
    parser.add_argument("--split", choices=("all", "dev"), default="dev", help="dev: the dialogues finetune holds out.")
    parser.add_argument("--rows", type=int, default=30, help="Rows to time.")
    parser.add_argument("--json", action="store_true", help="Print the figures as JSON.")
    args = parser.parse_args()

    from emotionlayer import registry
    from emotionlayer.config import PipelineConfig
    from emotionlayer.data.styletalk import read_styletalk, split_dev
    from emotionlayer.prompting import PromptRenderer

    rows = read_styletalk(args.data)
    rows = (split_dev(rows)[1] if args.split == "dev" else rows)[: args.rows]
    config = PipelineConfig.default()
    renderer = PromptRenderer.from_config(config)
    writers = {}
    for name, (params, guard) in VARIANTS.items():
        # No prompt reuse between calls: the variants share a loaded model, and the one timed second would
        # find the prompt already evaluated.
        options = {**config.llm.params, **params, "temperature": 0.0, "cache_prompt": False}
        llm = registry.create("llm", config.llm.backend, **options)
        llm.warmup()
        check = registry.create("guard", guard) if guard else None
        if check is not None:
            check.warmup()
        writers[name] = (llm, check)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in writers}
    for row in rows:
        prompt = renderer.render(row.text, row.emotion_prediction(), row.history())
        for name, (llm, check) in writers.items():
            if check is None:
                pieces = llm.stream_generate(prompt.messages)
            else:
                pieces = check.stream(llm, prompt.messages, row.text, prompt.strategy.name)
            first, total, _ = first_sentence_time(pieces)
            times[name].append((first, total))
    base = np.median([t[0] for t in times["bare"]])
    figures = {
        name: {
            "first_sentence_median_s": round(float(np.median([t[0] for t in values])), 3),
            "first_sentence_p90_s": round(float(np.percentile([t[0] for t in values], 90)), 3),
            "reply_median_s": round(float(np.median([t[1] for t in values])), 3),
            "first_sentence_ratio_to_bare": round(float(np.median([t[0] for t in values]) / base), 3),
        }
        for name, values in times.items()
    }
    if args.json:
        print(json.dumps({"rows": len(rows), "figures": figures}, indent=1))
        return
    print(f"{len(rows)} rows; seconds")
    print(f"{'variant':<18}{'first sentence p50':>20}{'p90':>8}{'reply p50':>11}{'ratio':>8}")
    for name, f in figures.items():
        print(
            f"{name:<18}{f['first_sentence_median_s']:>20.3f}{f['first_sentence_p90_s']:>8.3f}"
            f"{f['reply_median_s']:>11.3f}{f['first_sentence_ratio_to_bare']:>8.2f}"
        )


if __name__ == "__main__":
    main()
