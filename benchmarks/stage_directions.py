"""Count the stage directions the default LLM writes, and how many of their words would be read aloud.

Runs the cascade's default LLM (llama-cpp SmolLM2-135M-Instruct) with the cascade's prompt (the packaged
template, few-shot example and empathy strategy) over replies to the packaged seed utterances, each
with one of the emotions it can carry, exactly as a turn would. Each reply is then cut into sentences
and cleaned as the cascade does (``clean_reply`` then ``normalise_cues``), and split the way a TTS
backend splits it; what is left as words is the text the TTS speaks.

A *delimited group* is any run of one to sixteen words of letters between ``( )``, ``[ ]``, ``* *`` or
``< >`` in the raw reply, whether it is a stage direction or not. The benchmark reports how many such
words the TTS would read without any cue handling (the raw reply) and with it, and lists every group
that is still spoken so that a reader can check they are asides or emphasis rather than cues.

    python benchmarks/stage_directions.py                       # 240 replies at the config's temperature
    python benchmarks/stage_directions.py --temperature 1.3     # a hotter LLM writes more cues
    python benchmarks/stage_directions.py --temperature 1.3 --seed 1   # other replies (a held-out check)
    python benchmarks/stage_directions.py --save replies.json   # keep the replies ...
    python benchmarks/stage_directions.py --replies replies.json  # ... and score them again without the LLM
    python benchmarks/stage_directions.py --json

The LLM is sampled with the config's seed (or ``--seed``), so the same machine gives the same replies.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections import Counter
from typing import Any

# Any run of one to sixteen words of letters between delimiters (broader than the parser on purpose).
GROUP = re.compile(
    r"\((?P<paren>[^()\n]{1,120})\)|\[(?P<square>[^\[\]\n]{1,120})\]|\*(?P<star>[^*\n]{1,120})\*|<(?P<angle>[^<>\n]{1,120})>"
)
WORDS = re.compile(r"^\s*[A-Za-z][A-Za-z'_-]*(?:[,;]?\s+[A-Za-z][A-Za-z'_-]*){0,15}[.!?]?\s*$")
TOKEN = re.compile(r"[A-Za-z][A-Za-z'_-]*")


def delimited_groups(text: str) -> list[tuple[str, str]]:
    """``(kind, raw)`` for each delimited run of words in ``text`` (``kind``: paren, square, star, angle)."""
    out = []
    for match in GROUP.finditer(text):
        kind = next(k for k, v in match.groupdict().items() if v is not None)
        if WORDS.match(match.group(kind)):
            out.append((kind, match.group(0)))
    return out


def spoken_text(reply: str) -> tuple[str, list[str]]:
    """What the TTS would read of ``reply`` in the cascade, and the events it would render."""
    from emotionlayer.paralinguistics.tags import TagSegment, TextSegment, normalise_cues, split_tags
    from emotionlayer.text import clean_reply, split_sentences

    words: list[str] = []
    events: list[str] = []
    for sentence in split_sentences(reply):
        for segment in split_tags(normalise_cues(clean_reply(sentence))):
            if isinstance(segment, TextSegment):
                words.append(segment.text)
            elif isinstance(segment, TagSegment) and segment.known:
                events.append(segment.label)
    return " ".join(words), events


def surviving_groups(reply: str, spoken: str) -> list[str]:
    """The delimited groups of ``reply`` whose words the TTS would still read."""
    return [raw for _, raw in delimited_groups(reply) if raw in spoken]


def generate_replies(limit: int, temperature: float | None, seed: int | None = None) -> list[dict[str, Any]]:
    """Replies of the default LLM to seed utterances, each rendered with the cascade's prompt."""
    from emotionlayer import registry
    from emotionlayer.config import PipelineConfig
    from emotionlayer.data.generation import load_seeds
    from emotionlayer.prompting import PromptRenderer
    from emotionlayer.types import EmotionPrediction

    config = PipelineConfig.default()
    params = dict(config.llm.params)
    if temperature is not None:
        params["temperature"] = temperature
    if seed is not None:
        params["seed"] = seed
    llm = registry.create("llm", config.llm.backend, **params)
    renderer = PromptRenderer.from_config(config)
    seeds = load_seeds()
    pairs = [
        (seed, seed.emotions[i])
        for i in range(max(len(s.emotions) for s in seeds))
        for seed in seeds
        if i < len(seed.emotions)
    ]
    out = []
    for seed, emotion in pairs[:limit]:
        prompt = renderer.render(seed.text, EmotionPrediction.certain(emotion), None, seed.language)
        out.append({"id": seed.id, "emotion": emotion, "text": seed.text, "reply": llm.generate(prompt.messages)})
    return out


def score(replies: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures for a list of ``{"reply": ...}`` rows."""
    kinds: Counter[str] = Counter()
    events: Counter[str] = Counter()
    raw_words = spoken_words = with_groups = 0
    survivors: list[str] = []
    dropped: list[str] = []
    for row in replies:
        reply = row["reply"]
        groups = delimited_groups(reply)
        with_groups += bool(groups)
        kinds.update(kind for kind, _ in groups)
        raw_words += sum(len(TOKEN.findall(raw)) for _, raw in groups)
        spoken, found = spoken_text(reply)
        events.update(found)
        kept = surviving_groups(reply, spoken)
        survivors.extend(kept)
        spoken_words += sum(len(TOKEN.findall(raw)) for raw in kept)
        dropped.extend(raw for _, raw in groups if raw not in kept)
    return {
        "replies": len(replies),
        "replies_with_delimited_groups": with_groups,
        "delimited_groups": dict(kinds),
        "delimited_words_read_without_cue_handling": raw_words,
        "delimited_words_read_now": spoken_words,
        "groups_read_now": survivors,
        "groups_not_read_now": dropped,
        "events_rendered": dict(events),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=240, help="replies to generate (seed, emotion pairs)")
    parser.add_argument("--temperature", type=float, default=None, help="LLM temperature (default: the config's)")
    parser.add_argument("--seed", type=int, default=None, help="LLM sampling seed (default: the config's)")
    parser.add_argument("--replies", default=None, help="score the replies in this JSON file instead of generating")
    parser.add_argument("--save", default=None, help="write the generated replies to this JSON file")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a summary")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    if args.replies:
        with open(args.replies, encoding="utf-8") as handle:
            replies = json.load(handle)
    else:
        replies = generate_replies(args.limit, args.temperature, args.seed)
        if args.save:
            with open(args.save, "w", encoding="utf-8") as handle:
                json.dump(replies, handle, indent=1, ensure_ascii=False)
    figures = score(replies)
    figures["temperature"] = args.temperature
    figures["seed"] = args.seed
    figures["seconds"] = round(time.perf_counter() - start, 1)
    figures["load_average_1m"] = round(os.getloadavg()[0], 2)
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"replies: {figures['replies']} ({figures['replies_with_delimited_groups']} with a delimited group)")
    print(f"delimited groups: {figures['delimited_groups']}")
    print(
        "delimited words the TTS would read without cue handling: "
        f"{figures['delimited_words_read_without_cue_handling']}"
    )
    print(f"delimited words the TTS reads now: {figures['delimited_words_read_now']}")
    print(f"events rendered: {figures['events_rendered']}")
    print(f"not read (rendered or dropped): {figures['groups_not_read_now']}")
    print(f"still read (check: asides or emphasis, not cues): {figures['groups_read_now']}")
    print(f"({figures['seconds']} s, load average {figures['load_average_1m']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
