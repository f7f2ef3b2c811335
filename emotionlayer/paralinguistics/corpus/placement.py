"""Stage 4 of the paralinguistic corpus: which sound fits a sentence, and between which words it goes.

SynParaSpeech asks an LLM for the tag that suits the sentence and the best of its verified split points,
without changing the text. :func:`place_event` does that with the prompt ``prompts/paralinguistic_tag.j2``:
the sentence is shown with numbered positions (``Oh [1] I dropped my keys [2] again``), the label set is
listed, and the reply must read ``tag: <label>`` / ``position: <number>``. The reply is parsed strictly
(:func:`parse_reply`): the label must be one of the set and the number one of those shown. A bad reply,
an LLM that fails, or no LLM at all falls back to rules (:func:`fallback_placement`):

- the label from cue words in the sentence, English and Chinese (:data:`CUES`: ``funny``/``haha``/``笑``
  -> laugh, ``sorry``/``tired``/``唉`` -> sigh, ``oh``/``suddenly``/``天哪`` -> gasp, ``well``/``so``/
  ``anyway`` opening the sentence -> throat_clearing, ``not again``/``啧`` -> tsk, ``um``/``...``/``嗯``
  -> pause), or, with no cue, a choice among the labels that is seeded by ``seed`` and the text, so the
  same sentence always gets the same label and a corpus of many sentences stays balanced;
- the position: throat clearing at the earliest candidate; otherwise right after the cue word when a
  candidate is there, else at a clause boundary (a comma, a semicolon, a dash), else nearest the middle.

Example:
    >>> from emotionlayer.paralinguistics.corpus.placement import place_event
    >>> p = place_event("That was so funny, I could not stop".split(), [1, 4, 6], ["laugh", "sigh"])
    >>> p.label, p.word_index, p.source
    ('laugh', 4, 'fallback')
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import ConfigError

logger = logging.getLogger(__name__)

__all__ = [
    "CUES",
    "DEFAULT_LABELS",
    "DESCRIPTIONS",
    "PLACEMENT_TEMPLATE",
    "Placement",
    "fallback_placement",
    "mark_positions",
    "parse_reply",
    "place_event",
    "placement_messages",
]

#: The paper's label set (SynParaSpeech: laugh, sigh, gasp, throat clearing, pause, tsk).
DEFAULT_LABELS: tuple[str, ...] = ("laugh", "sigh", "gasp", "throat_clearing", "pause", "tsk")

#: The packaged prompt.
PLACEMENT_TEMPLATE = "paralinguistic_tag.j2"

#: A few words per label for the prompt; labels not here are shown by name.
DESCRIPTIONS: dict[str, str] = {
    "laugh": "funny or happy",
    "sigh": "tired, sad or resigned",
    "gasp": "surprise or shock",
    "throat_clearing": "starting to speak or changing topic",
    "pause": "hesitating or thinking",
    "tsk": "annoyed or disapproving",
    "cough": "a cough",
    "breath": "an audible breath",
}

#: Cue words per label for the fallback: English words (matched as whole words, lower case; phrases
#: too) and Chinese strings (matched anywhere). A cue written ``^word`` counts only opening the sentence
#: (within its first two words: ``Well, ...``, ``Oh ...``), where ``so`` or ``what`` mean something else
#: than inside it.
CUES: dict[str, tuple[str, ...]] = {
    label: tuple(words.split("|"))
    for label, words in {
        "laugh": "funny|haha|hahaha|hehe|lol|joke|joking|kidding|hilarious|laugh|laughing|fun|silly|ridiculous|"
        "amusing|笑|哈哈|好玩|有趣|搞笑|逗|开玩笑|呵呵",
        "sigh": "sorry|tired|unfortunately|exhausted|sad|miss|hard|tough|wish|alas|sadly|lonely|long day|oh well|"
        "唉|累|可惜|难过|遗憾|没办法|算了|哎",
        "gasp": "^oh|^what|suddenly|^really|wow|whoa|my god|oh my|can't believe|cannot believe|shocked|surprise|"
        "surprised|no way|天哪|天啊|哇|真的吗|突然|居然|竟然|吓",
        "throat_clearing": "^well|^so|^anyway|^now|^okay|^ok|^alright|^right|ahem|^first|^好吧|^那么|^首先|咳",
        "tsk": "no|not again|ugh|annoying|stupid|seriously|come on|nope|啧|烦|讨厌|不行|拜托",
        "pause": "um|uh|er|erm|hmm|let me think|wait|...|…|--|—|嗯|呃|那个|等一下",
    }.items()
}

# Labels whose cues are discourse fillers: another label's cue in the same sentence wins over them.
_WEAK_CUES = frozenset({"throat_clearing", "pause"})
# Where a clause ends: the word before a candidate ends with one of these.
_CLAUSE_END = re.compile(r"[,;:.!?…—–\-，；：、。！？]$")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_REPLY_TAG = re.compile(
    r"""["']?\b(?:tag|sound|label)\b["']?\s*[:=]\s*["'\[(<*]*([A-Za-z][A-Za-z _-]*?)["'\])>*.]*\s*(?:[,;}\n]|$)""",
    re.IGNORECASE | re.MULTILINE,
)
_REPLY_POSITION = re.compile(r"""["']?\bposition\b["']?\s*[:=]\s*["'\[(<]*(\d+)""", re.IGNORECASE)


@dataclass(frozen=True)
class Placement:
    """Where one event goes in a sentence, and how that was decided.

    Attributes:
        label: The event, one of the label set.
        word_index: One of the candidates: the event goes between ``words[word_index-1]`` and
            ``words[word_index]`` (0: before the first word; ``len(words)``: after the last).
        source: ``"llm"`` when the LLM's reply was used, ``"fallback"`` when the rules chose.
        reply: The LLM's raw reply (``""`` when no LLM was asked).
        reason: Why the fallback was used (``""`` for ``llm``).
    """

    label: str
    word_index: int
    source: str
    reply: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "word_index": self.word_index,
            "source": self.source,
            "reply": self.reply,
            "reason": self.reason,
        }


def _check(words: Sequence[str], candidates: Sequence[int], labels: Sequence[str]) -> tuple[list[int], list[str]]:
    if not labels:
        raise ConfigError("place_event needs at least one label (e.g. laugh, sigh, gasp, throat_clearing, pause, tsk).")
    points = sorted({int(c) for c in candidates})
    if not points:
        raise ConfigError("place_event needs at least one candidate position (a verified split point).")
    bad = [c for c in points if c < 0 or c > len(words)]
    if bad:
        raise ConfigError(
            f"Candidate positions {bad} are outside the sentence: a position is a word index from 0 (before the "
            f"first word) to {len(words)} (after the last)."
        )
    return points, list(dict.fromkeys(str(label) for label in labels))


def _joined(words: Sequence[str]) -> str:
    """The words as text: with spaces, except between Chinese characters."""
    text = " ".join(w.strip() for w in words if w.strip())
    return re.sub(r"(?<=[\u4e00-\u9fff，。；：！？、])\s+(?=[\u4e00-\u9fff，。；：！？、])", "", text)


def mark_positions(words: Sequence[str], candidates: Sequence[int]) -> str:
    """The sentence with ``[1]``, ``[2]``... at the candidate positions, in word order.

    Example:
        >>> mark_positions(["Oh", "I", "dropped", "it"], [1, 3])
        'Oh [1] I dropped [2] it'
    """
    points = sorted({int(c) for c in candidates})
    pieces: list[str] = []
    for i in range(len(words) + 1):
        if i in points:
            pieces.append(f"[{points.index(i) + 1}]")
        if i < len(words):
            pieces.append(words[i])
    return _joined(pieces)


def _template(template: Any, language: str | None) -> Any:
    import jinja2

    from ...prompting import language_template_name, template_environment

    if template is not None and not isinstance(template, (str, Path)):
        return template  # a jinja2 Template already
    name = str(template) if template is not None else PLACEMENT_TEMPLATE
    path = Path(name).expanduser()
    dirs: list[str] = []
    if path.suffix == ".j2" and path.is_file():
        dirs, name = [str(path.parent)], path.name
    env = template_environment(dirs)
    names = ([language_template_name(name, language)] if language else []) + [name]
    for candidate in names:
        try:
            return env.get_template(candidate)
        except jinja2.TemplateNotFound:
            continue
    raise ConfigError(
        f"Placement prompt template {name!r} not found (give a .j2 file, or a name among the packaged prompts)."
    )


_SHOT = re.compile(r"^shot(\d+)_(user|assistant)$")


def _shot_blocks(blocks: Any) -> list[str]:
    """The example-turn blocks of a template (``shot1_user``, ``shot1_assistant``, ...), in order."""
    found = [(int(m.group(1)), m.group(2) == "assistant", name) for name in blocks if (m := _SHOT.match(name))]
    return [name for _, _, name in sorted(found)]


def _whole_shots(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """Drop an example question left without its answer (or the reverse), so roles alternate."""
    out: list[dict[str, str]] = []
    for message in messages:
        if message["role"] == "assistant" and (not out or out[-1]["role"] != "user"):
            continue
        if message["role"] == "user" and out and out[-1]["role"] == "user":
            out.pop()
        out.append(message)
    return out


def placement_messages(
    words: Sequence[str],
    candidates: Sequence[int],
    labels: Sequence[str],
    template: Any = None,
    language: str | None = None,
) -> list[dict[str, str]]:
    """The chat messages that ask the LLM for a tag and a position (see ``prompts/paralinguistic_tag.j2``)."""
    import jinja2

    points, labels = _check(words, candidates, labels)
    tmpl = _template(template, language)
    variables = {
        "marked": mark_positions(words, points),
        "numbers": list(range(1, len(points) + 1)),
        "labels": labels,
        "descriptions": DESCRIPTIONS,
        "language": language,
        "text": _joined(words),
    }
    try:
        if "user" not in tmpl.blocks:
            return [{"role": "user", "content": tmpl.render(variables).strip()}]
        messages = []
        for role in ("system", *_shot_blocks(tmpl.blocks), "user"):
            if role in tmpl.blocks:
                content = "".join(tmpl.blocks[role](tmpl.new_context(variables))).strip()
                if content:
                    messages.append({"role": role.rpartition("_")[2] if role.startswith("shot") else role,
                                     "content": content})  # fmt: skip
        return _whole_shots(messages)
    except jinja2.UndefinedError as exc:
        raise ConfigError(
            f"The placement prompt uses an undefined variable ({exc.message}). "
            f"Available variables: {', '.join(sorted(variables))}."
        ) from exc


def _label_key(text: str) -> str:
    return " ".join(text.strip().lower().replace("_", " ").replace("-", " ").split())


def parse_reply(reply: str, labels: Sequence[str], count: int) -> tuple[str, int] | str:
    """``(label, number)`` from an LLM reply, or why it cannot be used (a string).

    The reply must name a tag (``tag: sigh``; ``throat clearing`` and ``[sigh]`` are read as
    ``throat_clearing`` and ``sigh``) that is one of ``labels``, and a position (``position: 2``) from 1 to
    ``count``. A JSON object with the keys ``tag`` and ``position`` reads the same. Nothing else is needed,
    and nothing else is read: a label or number only mentioned in passing does not count.

    Args:
        reply: The LLM's raw reply.
        labels: The label set.
        count: How many numbered positions were shown.
    """
    text = reply or ""
    tag = _REPLY_TAG.search(text)
    position = _REPLY_POSITION.search(text)
    if tag is None and position is None:
        return "the reply has neither 'tag:' nor 'position:'"
    if tag is None:
        return "the reply has no 'tag:'"
    if position is None:
        return "the reply has no 'position:'"
    by_key = {_label_key(label): label for label in labels}
    label = by_key.get(_label_key(tag.group(1)))
    if label is None:
        return f"the tag {tag.group(1).strip()!r} is not one of {', '.join(labels)}"
    number = int(position.group(1))
    if not 1 <= number <= count:
        return f"the position {number} is not one of the numbers shown (1-{count})"
    return label, number


def _seeded_index(seed: int, text: str, salt: str, n: int) -> int:
    digest = hashlib.sha256(f"{seed}|{salt}|{text}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % n


def _cue_hits(words: Sequence[str], labels: Sequence[str]) -> dict[str, int]:
    """Label -> index of the first word that carries one of its cues, for the labels in ``labels``."""
    lowered = [w.lower() for w in words]
    tokens = [re.sub(r"^[^\w.…—-]+|[^\w.…—-]+$", "", w).strip(".") or w for w in lowered]
    # Chinese and punctuation cues are found in the words joined without spaces (a cue may span words)
    joined = "".join(lowered)
    owner = [i for i, w in enumerate(lowered) for _ in w]  # character -> word index
    hits: dict[str, int] = {}
    for label in labels:
        for written in CUES.get(label, ()):
            cue = written.lstrip("^")
            found: int | None = None
            if _HAN.search(cue) or not cue.replace("'", "").replace(" ", "").isalnum():
                at = joined.find(cue)
                found = owner[at + len(cue) - 1] if at >= 0 else None
            else:
                parts = cue.split()
                starts = range(len(tokens) - len(parts) + 1)
                found = next((i + len(parts) - 1 for i in starts if tokens[i : i + len(parts)] == parts), None)
            if found is None or (written.startswith("^") and found > 1):
                continue
            hits[label] = min(found, hits.get(label, found))
    return hits


def _middle(points: Sequence[int], n_words: int) -> int:
    return min(points, key=lambda p: (abs(p - n_words / 2.0), p))


def _position_for(label: str, cue: int | None, words: Sequence[str], points: Sequence[int]) -> int:
    if label == "throat_clearing":
        return points[0]
    if cue is not None:
        after = cue + 1  # right after the cue word: "Oh [gasp] ...", "so funny [laugh]"
        if after in points:
            return after
    clause = [p for p in points if 0 < p < len(words) and _CLAUSE_END.search(words[p - 1].strip())]
    if clause:
        return _middle(clause, len(words))
    return _middle(points, len(words))


def fallback_placement(
    words: Sequence[str],
    candidates: Sequence[int],
    labels: Sequence[str],
    seed: int = 0,
    reason: str = "",
    reply: str = "",
) -> Placement:
    """The rule-based choice of label and position (see the module's description).

    Args:
        words: The sentence's words.
        candidates: Word indices where the event may go.
        labels: The label set.
        seed: Seeds the choice among labels when no cue word decides (with the text, so it is the same
            for the same sentence and seed).
        reason: Why the rules are used (kept in the result).
        reply: The LLM's reply, if there was one (kept in the result).
    """
    points, labels = _check(words, candidates, labels)
    text = _joined(words)
    hits = _cue_hits(words, labels)
    if hits:
        strong = [label for label in hits if label not in _WEAK_CUES]
        cued = sorted(strong or hits, key=lambda label: (hits[label], labels.index(label)))
        # several cues: a seeded choice among them, so "oh no, not again" is not always a gasp
        label = cued[_seeded_index(seed, text, "cue", len(cued))] if len(cued) > 1 else cued[0]
    else:
        label = labels[_seeded_index(seed, text, "label", len(labels))]
    position = _position_for(label, hits.get(label), words, points)
    return Placement(label=label, word_index=position, source="fallback", reply=reply, reason=reason)


def place_event(
    words: Sequence[str],
    candidates: Sequence[int],
    labels: Sequence[str] = DEFAULT_LABELS,
    llm: Any = None,
    seed: int = 0,
    template: Any = None,
    language: str | None = None,
) -> Placement:
    """Choose the event that fits a sentence and the candidate position it goes at.

    Args:
        words: The sentence's words, as the aligner gave them (Chinese: words or characters).
        candidates: The word indices where the event may go (the verified split points): index ``i`` is
            between ``words[i-1]`` and ``words[i]``.
        labels: The label set (default: the paper's six).
        llm: An ``llm`` component (anything with ``generate(messages, **options)``), asked greedily; ``None``
            uses the rules only.
        seed: Seed of the LLM call and of the fallback's choice among labels.
        template: The prompt: a template name among the packaged prompts, a ``.j2`` file, or a jinja2
            ``Template``; ``None`` is ``paralinguistic_tag.j2`` (``paralinguistic_tag.<language>.j2`` first
            when one exists).
        language: The sentence's language code (``en``, ``zh``), shown to the LLM.

    Returns:
        A :class:`Placement`; ``source`` says whether the LLM's answer or the rules were used, and ``reason``
        why the rules were.

    Raises:
        ConfigError: no labels, no candidates, or a candidate outside the sentence.
    """
    points, labels = _check(words, candidates, labels)
    if llm is None:
        return fallback_placement(words, points, labels, seed, reason="no LLM")
    messages = placement_messages(words, points, labels, template, language)
    try:
        reply = llm.generate(
            messages, temperature=0.0, seed=seed, target_tokens=16, sentence_grace=8, max_sentences=None
        )
    except Exception as exc:  # a failing LLM must not stop a corpus run: the rules take over, with the reason
        logger.warning("The LLM failed to place an event (%s: %s); using the rules.", type(exc).__name__, exc)
        return fallback_placement(words, points, labels, seed, reason=f"the LLM failed: {type(exc).__name__}: {exc}")
    parsed = parse_reply(reply, labels, len(points))
    if isinstance(parsed, str):
        return fallback_placement(words, points, labels, seed, reason=parsed, reply=reply)
    label, number = parsed
    return Placement(label=label, word_index=points[number - 1], source="llm", reply=reply, reason="")
