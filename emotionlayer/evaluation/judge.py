"""An optional LLM judge: rates each reply 1-5 for empathy and for fit to what was said and how.

Off by default: no model strong enough to judge ships offline. Point it at any OpenAI-compatible endpoint
(a local llama.cpp, vLLM or Ollama server, or a hosted API)::

    emotionlayer evaluate dialogue --manifest clips.csv --systems cascade,echat \
        --judge-url http://127.0.0.1:8080/v1 --judge-model qwen2.5-7b-instruct

The prompt is ``prompts/judge.j2`` (criteria in ``docs/evaluation.md``). The judge decodes greedily and
its ratings are cached beside the replies (``<cache>/judgements.jsonl``), keyed by the judge, the
prompt and the clip's words, emotion and reply, so a rerun asks nothing again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import numpy as np

from ..errors import ConfigError
from .dialogue_report import DialogueClip, DialogueReply

PathLike = Union[str, os.PathLike]

#: The packaged judge prompt.
JUDGE_TEMPLATE = "judge.j2"
_SCORE = {name: re.compile(rf"{name}\W*\**\s*([1-5])\b", re.IGNORECASE) for name in ("empathy", "fit")}


@dataclass
class LLMJudge:
    """Rates replies with an LLM over an OpenAI-compatible chat-completions endpoint.

    Args:
        base_url: The endpoint (``http://127.0.0.1:8080/v1``).
        model: The model name the server expects (``None``: its default).
        api_key: A key, if the server wants one (or ``OPENAI_API_KEY``).
        timeout: Seconds to wait for each rating.
        template: The prompt template (searched among the packaged prompts).
    """

    base_url: str
    model: str | None = None
    api_key: str | None = None
    timeout: float = 60.0
    template: str = JUDGE_TEMPLATE

    def __post_init__(self) -> None:
        import jinja2

        from ..files import hash_file
        from ..prompting import template_environment

        try:
            self._template = template_environment().get_template(self.template)
        except jinja2.TemplateNotFound:
            raise ConfigError(f"Judge template {self.template!r} is not among the packaged prompts.") from None
        source = self._template.filename
        prompt_hash = hash_file(source).hexdigest()[:16] if source else ""
        #: The judge and its prompt, as the cache keys them.
        self.identity = f"{self.base_url}|{self.model}|{prompt_hash}"
        self._llm: Any = None

    def messages(self, text: str, emotion: str, reply: str) -> list[dict[str, str]]:
        """The chat messages asking for one rating."""
        variables = {"text": text, "emotion": emotion, "reply": reply}
        template = self._template
        return [
            {"role": role, "content": "".join(template.blocks[role](template.new_context(variables))).strip()}
            for role in ("system", "user")
        ]

    def rate(self, text: str, emotion: str, reply: str) -> tuple[int, int] | None:
        """``(empathy, fit)``, each 1-5, or ``None`` when the judge's answer has no readable rating."""
        if self._llm is None:
            from .. import registry

            self._llm = registry.create("llm", "openai", base_url=self.base_url, model=self.model, api_key=self.api_key,
                                        timeout=self.timeout, temperature=0.0, seed=0, max_sentences=None)  # fmt: skip
        return parse_rating(self._llm.generate(self.messages(text, emotion, reply)))


def parse_rating(answer: str) -> tuple[int, int] | None:
    """``(empathy, fit)`` from a judge's answer (``Empathy: 4`` / ``Fit: 5``), or ``None``."""
    found = {name: pattern.search(answer or "") for name, pattern in _SCORE.items()}
    if not all(found.values()):
        return None
    return int(found["empathy"].group(1)), int(found["fit"].group(1))  # type: ignore[union-attr]


def judge_replies(
    judge: LLMJudge,
    clips: Sequence[DialogueClip],
    replies: dict[str, Sequence[Sequence[DialogueReply]]],
    cache_dir: PathLike | None = None,
) -> dict[str, np.ndarray]:
    """Rate every reply: ``{system: (runs, clips, 2)}`` of empathy and fit (NaN where unreadable)."""
    journal = None
    records: dict[str, dict[str, Any]] = {}
    if cache_dir is not None:
        from ..data.generation.journal import Journal

        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        journal = Journal(Path(cache_dir) / "judgements.jsonl")
        records = journal.records
    out: dict[str, np.ndarray] = {}
    try:
        for name, runs in replies.items():
            ratings = np.full((len(runs), len(clips), 2), np.nan)
            for r, run in enumerate(runs):
                for i, (clip, reply) in enumerate(zip(clips, run, strict=True)):
                    key = hashlib.sha256(
                        json.dumps([judge.identity, clip.text, clip.emotion, reply.reply]).encode()
                    ).hexdigest()
                    if key not in records:
                        rating = judge.rate(clip.text or "", clip.emotion or "neutral", reply.reply)
                        records[key] = {"id": key, "rating": list(rating) if rating else None}
                        if journal is not None:
                            journal.append(records[key])
                    if records[key]["rating"]:
                        ratings[r, i] = records[key]["rating"]
            out[name] = ratings
    finally:
        if journal is not None:
            journal.close()
    return out
