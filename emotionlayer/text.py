"""Text handling shared by the LLM, the TTS and the dialogue systems: sentences and reply cleaning.

One place decides where a sentence ends, so that the LLM's sentence limit, the pipeline's
speak-each-sentence-as-soon-as-it-is-written loop and the TTS backends agree:

- after ``. ! ? …`` (optionally followed by closing quotes or brackets) when white space follows;
- after the CJK full stops ``。！？`` (and fullwidth ``！？``) at once, with or without white space, since
  Chinese and Japanese are written without spaces between sentences. While streaming, a CJK sentence
  is released once the next character has arrived, so a closing quote that follows it stays with it.

Example:
    >>> split_sentences("你好。我很好！谢谢")
    ['你好。', '我很好！', '谢谢']
    >>> pop_sentences("Hello there! How are you? I am")
    (['Hello there!', 'How are you?'], 'I am')
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .errors import ConfigError, MissingDependencyError

#: Characters that may close a sentence after its final punctuation: quotes and brackets, ASCII and CJK.
CLOSERS = "\"'”’)]」』）】》"
_CLOSE = re.escape(CLOSERS)
_LATIN_END = rf"[.!?…]+[{_CLOSE}]*(?=\s)"
_CJK_END = rf"[。！？]+[{_CLOSE}]*(?=[^{_CLOSE}])"

#: Matches the end of a sentence (the match ends where the sentence ends).
SENTENCE_END = re.compile(f"{_LATIN_END}|{_CJK_END}")

#: As :data:`SENTENCE_END`, and a line break after text also ends a sentence (for LLM output, where a
#: model often ends a line without punctuation).
SENTENCE_OR_LINE_END = re.compile(rf"{_LATIN_END}|{_CJK_END}|(?<=[^\s.!?…。！？{_CLOSE}])(?=\n)")

_ENDS_CJK = re.compile(rf"[。！？，、：；][{_CLOSE}]*$")

# A reply sometimes starts by naming its own role ("Assistant: ...", "<|im_start|>assistant\n...").
ROLE_PREFIX = re.compile(
    r"^(?:<\|im_start\|>\s*|<\|start_header_id\|>\s*|<start_of_turn>\s*)?"
    r"(?:(?:assistant|ai|bot|model|smollm)(?:<\|end_header_id\|>)?\s*(?::|\n)|(?:you|answer)\s*:)\s*",
    re.IGNORECASE,
)

#: Prefixes of role markers: while a streamed reply could still turn out to start with one of these, it
#: is held back (see :func:`could_be_role_marker`).
ROLE_WORDS: tuple[str, ...] = (
    "<|im_start|>assistant",
    "<|start_header_id|>assistant<|end_header_id|>",
    "<start_of_turn>model",
    "assistant:",
    "ai:",
    "bot:",
    "model:",
    "smollm:",
    "answer:",
    "you:",
)


def pop_sentences(buffer: str) -> tuple[list[str], str]:
    """Split the finished sentences off the front of a growing ``buffer``.

    Returns:
        The finished sentences (stripped) and the unfinished rest (left-stripped), which the caller keeps
        and extends with the next piece of text.
    """
    sentences: list[str] = []
    start = 0
    for match in SENTENCE_END.finditer(buffer):
        sentence = buffer[start : match.end()].strip()
        if sentence:
            sentences.append(sentence)
        start = match.end()
    return sentences, buffer[start:].lstrip()


#: Where a clause may end inside a sentence: a comma, semicolon, colon or dash followed by white space
#: (Latin), or the CJK comma, enumeration comma, semicolon or colon.
CLAUSE_END = re.compile(r"[,;:\u2013\u2014](?=\s)|\s-(?=\s)|[，、；：]")


def pop_clause(buffer: str, min_words: int) -> tuple[str | None, str]:
    """Split the first clause off an unfinished sentence once it has ``min_words`` words (CJK: characters
    / 2), for speaking the start of a reply before its first sentence is finished.

    Returns:
        The clause (stripped) or ``None`` when no clause end has that many words before it, and the rest.

    Example:
        >>> pop_clause("Oh no, I'm so sorry to hear", 2)
        ('Oh no,', "I'm so sorry to hear")
    """
    for match in CLAUSE_END.finditer(buffer):
        head = buffer[: match.end()].strip()
        words = len(head.split())
        if words <= 1:
            words = len(re.findall(r"[\u3040-\u30ff\u3400-\u9fff]", head)) // 2 or words
        if words >= min_words:
            return head, buffer[match.end() :].lstrip()
    return None, buffer


def split_sentences(text: str) -> list[str]:
    """Split a whole text into sentences (the text after the last sentence end is the last sentence)."""
    sentences, rest = pop_sentences(text.strip())
    rest = rest.strip()
    return sentences + [rest] if rest else sentences


def join_sentences(sentences: list[str]) -> str:
    """Join sentences into one text: with a space after Latin punctuation, directly after CJK punctuation."""
    out = ""
    for sentence in sentences:
        if out and not _ENDS_CJK.search(out):
            out += " "
        out += sentence
    return out


def strip_role_prefix(text: str) -> str:
    """Remove a leading role marker such as ``Assistant:`` or ``<|im_start|>assistant``."""
    stripped = text.lstrip()
    match = ROLE_PREFIX.match(stripped)
    return stripped[match.end() :] if match else stripped


def could_be_role_marker(text: str) -> bool:
    """Whether ``text`` (the start of a streamed reply) may still grow into a role marker."""
    lowered = text.lstrip().lower()
    return any(word.startswith(lowered) or lowered.startswith(word) for word in ROLE_WORDS)


def clean_reply(text: str) -> str:
    """Tidy an LLM reply for speaking: drop a role prefix, wrapping quotes and extra white space."""
    text = re.sub(r"\s+", " ", strip_role_prefix(text.strip())).strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    return text


#: OpenCC conversions by target script (``run.chinese_script``).
_OPENCC_CONFIGS = {"simplified": "t2s", "traditional": "s2t"}
_CONVERTERS: dict[str, Any] = {}


def chinese_converter(script: str | None) -> Callable[[str], str] | None:
    """A function that writes Chinese text in ``script`` (``simplified`` or ``traditional``) with OpenCC, or
    ``None`` when ``script`` is ``None``. Other characters (Latin letters, digits, punctuation) pass unchanged.

    Raises:
        MissingDependencyError: ``opencc`` is not installed.
        ConfigError: ``script`` is another word.
    """
    if script is None:
        return None
    if script not in _OPENCC_CONFIGS:
        raise ConfigError(f"Unknown Chinese script {script!r}; use 'simplified', 'traditional' or null.")
    if script not in _CONVERTERS:
        try:
            import opencc
        except ImportError:
            raise MissingDependencyError("opencc", "eval", purpose=f"writing Chinese in {script} characters") from None
        name = _OPENCC_CONFIGS[script]
        try:
            _CONVERTERS[script] = opencc.OpenCC(name).convert
        except Exception:  # configs are named with or without .json depending on the opencc build
            _CONVERTERS[script] = opencc.OpenCC(f"{name}.json").convert
    return _CONVERTERS[script]


def to_chinese_script(text: str, script: str | None) -> str:
    """``text`` with its Chinese characters in ``script`` (``simplified``/``traditional``; ``None``: as is).

    Example:
        >>> to_chinese_script("對，這就是我", "simplified")
        '对，这就是我'
    """
    convert = chinese_converter(script)
    return convert(text) if convert is not None and text else text
