"""The reply writer on StyleTalk, with the fair judge: perfect hearing, fixed references, greedy, intervals.

Each StyleTalk row is a turn heard perfectly (the *topline*): the true words, the true style mapped to the
library's emotion (:data:`~emotionlayer.data.styletalk.STYLE_EMOTIONS`) and the true conversation so far
go through the config's prompt template to its LLM, decoded greedily; the reply is scored against the reply
StyleTalk's writers wrote for that sentence in that style, with the same figures and bootstrap intervals as
``evaluate dialogue`` (:func:`~emotionlayer.evaluation.dialogue_scoring.score_replies`): SIM to the
reference, BLEU, and *reference discrimination*, the share of rows whose reply is closer to the reference
written for its own style than to those written for the same sentence in the other styles.

Several variants (e.g. the bare model and the model with an adapter, or with the reply guard, or with the
strategy's opener given to the LLM as the start of its reply: ``run.opener``) are scored on the same rows,
so their paired differences come with intervals. Replies are cached in ``cache``
(one JSON line each), so a killed run resumes where it stopped.
"""

from __future__ import annotations

import copy
import itertools
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

from ..config import PipelineConfig
from ..errors import ConfigError
from .dialogue import ReplyCache, config_hash
from .dialogue_report import DialogueClip, DialogueReply

PathLike = Union[str, os.PathLike]


@dataclass
class Variant:
    """One reply writer to score: a name and the pipeline config that builds it (template, LLM, guard)."""

    name: str
    config: PipelineConfig


def variants(
    config: PipelineConfig | str | None,
    adapters: Sequence[str] = (),
    guards: Sequence[str] = (),
    openers: Sequence[str] = (),
    prosody: Sequence[str] = (),
) -> list[Variant]:
    """One greedy variant of ``config`` per adapter, guard, opener and prosody setting asked for (all
    combinations).

    An adapter is ``none``, ``packaged`` or a folder (``llm.params.adapter``), a guard a backend name (the
    ``guard`` section), an opener setting ``on`` or ``off`` (``run.opener``: the reply starts with its
    strategy's opener, which the LLM continues), a prosody setting ``on`` or ``off`` (``prompt.prosody``: the
    prompt also says how fast and loud the sentence was said). Nothing asked for keeps the config's own, and
    the variant is named ``config``.
    """
    base = PipelineConfig.coerce(config).to_dict()
    switches = {"opener": ("run", "opener"), "prosody": ("prompt", "prosody")}  # on/off settings: their key
    out = []
    asked = (adapters, guards, openers, prosody)
    for adapter, guard, *settings in itertools.product(*(values or ["config"] for values in asked)):
        data, name = copy.deepcopy(base), []
        if adapter != "config":
            data["llm"].setdefault("params", {})["adapter"] = None if adapter == "none" else adapter
            name.append(f"adapter={adapter}")
        if guard != "config":
            data["guard"] = {"backend": guard, "params": {}}
            name.append(f"guard={guard}")
        for (what, (section, key)), value in zip(switches.items(), settings, strict=True):
            if value == "config":
                continue
            if value not in ("on", "off"):
                raise ConfigError(f"The {what} setting is on or off, got {value!r}.")
            data[section][key] = value == "on"
            name.append(f"{what}={value}")
        out.append(Variant(" ".join(name) or "config", greedy(PipelineConfig.coerce(data))))
    return out


def styletalk_clips(rows: Sequence[Any]) -> list[DialogueClip]:
    """StyleTalk rows as the judge's clips (text only: ``path`` is the row id; the reply is the reference).

    Rows of one dialogue share the sentence, so reference discrimination compares their styles. The
    sentence is keyed with its dialogue, so equal sentences of different dialogues are never compared.
    """
    return [
        DialogueClip(
            path=f"styletalk/{row.id}",
            text=f"{row.text} [{row.dialogue}]",
            emotion=row.emotion,
            language="en",
            references=(row.reply,),
        )
        for row in rows
    ]


def greedy(config: PipelineConfig) -> PipelineConfig:
    """``config`` with its LLM decoding greedily (temperature 0): the fair judge's decoding."""
    data = config.to_dict()
    data["llm"]["params"] = {**data["llm"].get("params", {}), "temperature": 0.0}
    return PipelineConfig.coerce(data)


class TextTopline:
    """The cascade's reply writing on true words, emotion and history: prompt -> LLM (-> guard).

    With ``run.opener`` the reply starts with the strategy's opener (chosen as the cascade chooses it), which
    the LLM continues; the reply scored is the opener and the continuation, as the cascade speaks them.
    """

    def __init__(self, config: PipelineConfig) -> None:
        from .. import registry
        from ..components.guard import build_guard
        from ..prompting import PromptRenderer

        self.config = config
        self.renderer = PromptRenderer.from_config(config)
        self.llm = registry.create("llm", config.llm.backend, **config.llm.params)
        self.guard = build_guard(config)

    def reply(self, row: Any) -> tuple[str, str, dict[str, float]]:
        """``(reply, strategy, timings)`` for one StyleTalk row."""
        from ..components.llm._reply import join_reply
        from ..pipeline import pick_opener

        started = time.perf_counter()
        history = row.history()
        prosody = row.prosody() if self.config.prompt.prosody else None
        prompt = self.renderer.render(row.text, row.emotion_prediction(), history, prosody=prosody)
        opener = ""
        if self.config.run.opener and getattr(self.llm, "can_continue", lambda: False)():
            opener = pick_opener(prompt.strategy.openers, history)
        extra_args = {"prefix": opener} if opener else {}
        if self.guard is not None:
            checked = self.guard.write(self.llm, prompt, row.text, row.last_answer, **extra_args)
            text, extra = checked.text, {"guard_tries": float(checked.tries)}
        else:
            text, extra = self.llm.generate(prompt.messages, **extra_args), {}
        if opener:
            text = join_reply(opener, text)
        return text, prompt.strategy.name, {"total": time.perf_counter() - started, **extra}


def write_replies(
    rows: Sequence[Any],
    variant: Variant,
    cache: ReplyCache,
    progress: bool = True,
    writer_factory: Callable[[PipelineConfig], Any] = TextTopline,
) -> list[DialogueReply]:
    """The variant's reply to every row (cached replies are reused; new ones are added to ``cache``)."""
    from ..parallel import Progress, with_progress

    digest = config_hash(variant.config)
    keys = [f"styletalk:{digest}:{row.id}" for row in rows]
    todo = [i for i, key in enumerate(keys) if cache.get(key) is None]
    if todo:
        writer = writer_factory(variant.config)
        indices = iter(todo)
        if progress:
            indices = with_progress(indices, Progress(total=len(todo), desc=variant.name, unit="reply"))
        for i in indices:
            text, strategy, timings = writer.reply(rows[i])
            cache.put(
                keys[i],
                DialogueReply(
                    system=variant.name, path=f"styletalk/{rows[i].id}", reply=text, strategy=strategy,
                    emotion=rows[i].emotion, timings=timings,
                ),
            )  # fmt: skip
    return [cache.get(key) for key in keys]


def evaluate_styletalk(
    rows: Sequence[Any],
    variants: Sequence[Variant],
    cache: PathLike | None = None,
    progress: bool = True,
    options: Any = None,
) -> tuple[dict[str, Any], list[Any], dict[str, list[DialogueReply]]]:
    """Score each variant's replies to ``rows``: ``(scores per variant, paired differences, replies)``."""
    from .dialogue_scoring import score_replies

    clips = styletalk_clips(rows)
    replies: dict[str, list[DialogueReply]] = {}
    with ReplyCache(Path(cache) if cache else None) as store:
        for variant in variants:
            replies[variant.name] = write_replies(rows, variant, store, progress)
    scores, _, differences = score_replies(
        clips, {name: [run] for name, run in replies.items()}, variants[0].config, options
    )
    return scores, differences, replies


def markdown_table(scores: dict[str, Any], differences: Sequence[Any]) -> str:
    """The figures as a Markdown table, then the paired differences on SIM and reference discrimination."""

    def cell(value: float | None, interval: Any, scale: float = 1.0) -> str:
        if value is None:
            return "-"
        text = f"{value * scale:.1f}"
        if interval is not None:
            text += f" [{interval.low * scale:.1f}, {interval.high * scale:.1f}]"
        return text

    lines = [
        "| writer | n | SIM | BLEU-1 | reference discrimination (chance) | median s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, s in scores.items():
        chance = s.reference_discrimination_chance
        lines.append(
            f"| {name} | {s.n} | {cell(s.sim, s.intervals.get('sim'))} | {cell(s.bleu1, s.intervals.get('bleu1'))} | "
            f"{cell(s.reference_discrimination, s.intervals.get('reference_discrimination'), 100)} "
            f"({'-' if chance is None else f'{chance * 100:.1f}'}) | "
            f"{'-' if s.latency_median_s is None else f'{s.latency_median_s:.2f}'} |"
        )
    shown = [d for d in differences if d.figure in ("sim", "reference_discrimination", "bleu1")]
    if shown:
        lines += ["", "| a - b | figure | difference | 95% interval | real |", "|---|---|---:|---:|---|"]
        for d in shown:
            scale = 100 if d.figure == "reference_discrimination" else 1
            interval = "-" if d.interval is None else f"[{d.interval.low * scale:.1f}, {d.interval.high * scale:.1f}]"
            real = "yes" if d.real else "no"
            lines.append(f"| {d.a} - {d.b} | {d.figure} | {d.difference * scale:.1f} | {interval} | {real} |")
    return "\n".join(lines)
