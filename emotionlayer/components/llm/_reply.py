"""What every LLM backend shares: message checks, generation options, and shaping of spoken replies.

A reply that will be spoken must be short, must not start with a role marker ("Assistant:") and must not
run on into an imagined next turn ("<|im_start|>user", "\\nUser:"). :class:`ReplyShaper` does that on a
stream of token pieces, so that ``generate()`` and ``stream_generate()`` give the same text: the
backends feed it one token at a time and yield what it releases.

Length policy (one rule for every backend):

* ``target_tokens`` is the length the reply aims for. When it is reached the reply ends at the next
  sentence end, using at most ``sentence_grace`` more tokens; with ``sentence_grace=0`` ``target_tokens``
  is a hard cap. (It was called ``max_tokens``, a name that promised a cap; that name is still read, with
  a deprecation message.)
* ``max_sentences`` (if set) ends the reply after that many sentences, whatever its length.

Where a sentence ends is :class:`SentenceCounter`'s rule, the one sentence cap of the package: after
``. ! ? …`` followed by white space, after a CJK full stop, and at a line break after text (a model often
ends a spoken line without punctuation). :func:`first_sentences` applies the same cap, and nothing else,
to the text pieces of the speech LLMs (E-chat, ParalinGPT).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ...errors import ConfigError
from ...text import ROLE_PREFIX, SENTENCE_OR_LINE_END, could_be_role_marker

ROLES: tuple[str, ...] = ("system", "user", "assistant")

# Special tokens and turn markers that mean "the reply is over" for the chat templates in common use
# (ChatML, Llama 2/3, Gemma, plain "User:" transcripts). They are applied by the shaper, so they work for
# every backend and do not count against an HTTP server's limit on `stop` sequences.
DEFAULT_STOPS: tuple[str, ...] = (
    "<|im_end|>",
    "<|im_start|>",
    "<|endoftext|>",
    "<|eot_id|>",
    "<|end|>",
    "<end_of_turn>",
    "</s>",
    "\nUser:",
    "\nuser:",
    "\nHuman:",
    "\nAssistant:",
    "\nassistant:",
)


@dataclass(frozen=True)
class GenerationOptions:
    """Options every LLM backend takes, in its constructor (defaults) and per call (``**options``).

    Attributes:
        target_tokens: Length the reply aims for, in tokens; it ends at the next sentence end (see
            ``sentence_grace``).
        temperature: Sampling temperature; 0 means greedy decoding (always the same reply).
        top_p: Nucleus sampling: sample only from the smallest set of tokens whose probability sums to this.
        seed: Random seed for sampling; the same seed, messages and options give the same reply on the
            same backend and machine. ``None`` draws a fresh seed per call.
        stop: Extra strings that end the reply (not included in it).
        max_sentences: End the reply after this many sentences (``None``: no limit).
        sentence_grace: Tokens allowed past ``target_tokens`` to finish the sentence under way (0: a hard cap).
    """

    target_tokens: int = 64
    temperature: float = 0.3
    top_p: float = 0.9
    seed: int | None = 0
    stop: tuple[str, ...] = field(default_factory=tuple)
    max_sentences: int | None = 3
    sentence_grace: int = 24

    def __post_init__(self) -> None:
        if isinstance(self.stop, str):
            object.__setattr__(self, "stop", (self.stop,))
        elif self.stop is None:
            object.__setattr__(self, "stop", ())
        else:
            object.__setattr__(self, "stop", tuple(str(s) for s in self.stop))
        if int(self.target_tokens) < 1:
            raise ConfigError(f"target_tokens must be at least 1, got {self.target_tokens}.")
        if float(self.temperature) < 0:
            raise ConfigError(f"temperature must be >= 0 (0 = greedy), got {self.temperature}.")
        if not 0 < float(self.top_p) <= 1:
            raise ConfigError(f"top_p must be in (0, 1], got {self.top_p}.")
        if self.max_sentences is not None and int(self.max_sentences) < 1:
            raise ConfigError(f"max_sentences must be at least 1 or None, got {self.max_sentences}.")
        if int(self.sentence_grace) < 0:
            raise ConfigError(f"sentence_grace must be >= 0, got {self.sentence_grace}.")
        if any(not s for s in self.stop):
            raise ConfigError("stop strings must not be empty.")

    @property
    def token_budget(self) -> int:
        """The most tokens a backend is asked for: ``target_tokens + sentence_grace``."""
        return int(self.target_tokens) + int(self.sentence_grace)

    @property
    def all_stops(self) -> tuple[str, ...]:
        """The user's stop strings followed by :data:`DEFAULT_STOPS`."""
        return tuple(dict.fromkeys((*self.stop, *DEFAULT_STOPS)))

    @classmethod
    def pick(cls, arguments: Mapping[str, Any]) -> GenerationOptions:
        """The options among a backend constructor's ``arguments`` (its ``locals()``): every field of this
        class, and the old name ``max_tokens`` when it is given (see :func:`renamed_options`)."""
        known = {name: arguments[name] for name in cls.__dataclass_fields__ if name in arguments}
        for old, new in RENAMED_OPTIONS.items():
            if arguments.get(old) is not None:
                if known.get(new) == cls.__dataclass_fields__[new].default:
                    known.pop(new)  # only the old name was given
                known[old] = arguments[old]
        return cls(**renamed_options(known))

    def with_overrides(self, overrides: Mapping[str, Any]) -> GenerationOptions:
        """These options with per-call ``overrides``; an unknown name raises :class:`ConfigError`."""
        overrides = renamed_options(overrides)
        valid = set(self.__dataclass_fields__)
        unknown = sorted(set(overrides) - valid)
        if unknown:
            raise ConfigError(
                f"Unknown generation option(s) {', '.join(unknown)}. Valid options: {', '.join(sorted(valid))}."
            )
        return replace(self, **dict(overrides)) if overrides else self


#: Old option names and their new ones (read with a deprecation message).
RENAMED_OPTIONS: dict[str, str] = {"max_tokens": "target_tokens"}


def renamed_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` with old names (:data:`RENAMED_OPTIONS`) replaced by the new ones, with a deprecation message.

    Raises:
        ConfigError: both the old and the new name are given.
    """
    out = dict(options)
    for old, new in RENAMED_OPTIONS.items():
        if old not in out:
            continue
        value = out.pop(old)
        if new in out and value is not None and out[new] != value:
            raise ConfigError(f"Give {new} only: {old} is its old name ({old}={value}, {new}={out[new]}).")
        warnings.warn(
            f"The LLM option {old!r} is now {new!r} (the reply aims for that length and finishes its sentence, so "
            f"it was never a cap); {old!r} is read for now. Rename it in your config or call.",
            FutureWarning,
            stacklevel=4,
        )
        out[new] = value
    return out


def check_messages(messages: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    """Validate chat messages and return them as plain dicts.

    Raises:
        ConfigError: not a non-empty list of ``{"role": ..., "content": ...}`` with known roles.
    """
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence) or not messages:
        raise ConfigError(
            'messages must be a non-empty list like [{"role": "user", "content": "Hello"}], '
            f"got {type(messages).__name__}."
        )
    out: list[dict[str, str]] = []
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping) or "role" not in message or "content" not in message:
            raise ConfigError(f'messages[{i}] must be a dict with "role" and "content", got {message!r}.')
        role, content = message["role"], message["content"]
        if role not in ROLES:
            raise ConfigError(f"messages[{i}] has role {role!r}; valid roles: {', '.join(ROLES)}.")
        if not isinstance(content, str):
            raise ConfigError(f"messages[{i}] content must be a string, got {type(content).__name__}.")
        out.append({"role": role, "content": content})
    if out[-1]["role"] == "assistant":
        raise ConfigError("The last message is the assistant's; end with a user (or system) message to get a reply.")
    return out


def _held_back_stop_prefix(text: str, stops: Iterable[str]) -> int:
    """Length of the longest end of ``text`` that could still grow into a stop string."""
    longest = 0
    for stop in stops:
        for n in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:n]):
                longest = n
                break
    return longest


class SentenceCounter:
    """Counts the sentences of a growing text, and says when ``limit`` of them are finished.

    Args:
        limit: How many sentences a reply may have (``None``: no limit; :attr:`full` is then never true).
    """

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.count = 0
        self._scan = 0  # where to look for the next sentence end

    @property
    def full(self) -> bool:
        """Whether ``limit`` sentences are finished."""
        return self.limit is not None and self.count >= self.limit

    def ends(self, text: str, stop: int | None = None) -> Iterator[int]:
        """Yield where each newly finished sentence of ``text`` ends, counting it (``text`` only ever grows
        between calls; ``stop``: where to stop looking)."""
        for match in SENTENCE_OR_LINE_END.finditer(text, self._scan, len(text) if stop is None else stop):
            self._scan = match.end() + (1 if match.end() == match.start() else 0)  # step past empty matches
            self.count += 1
            yield match.end()


def first_sentences(pieces: Iterable[str], limit: int | None) -> Iterator[str]:
    """Pass text pieces through until ``limit`` sentences are finished (``None``: no limit), then close the source.

    The last piece is cut where the last allowed sentence ends. Sentences end where :class:`SentenceCounter`
    says, as in every LLM backend's replies (a line break after text ends one too).
    """
    iterator = iter(pieces)
    if not limit:
        yield from iterator
        return
    counter = SentenceCounter(limit)
    text = ""
    try:
        for piece in iterator:
            start = len(text)
            text += piece
            for end in counter.ends(text):
                if counter.full:
                    yield text[start:end]
                    return
            yield piece
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()


class ReplyShaper:
    """Turns raw token pieces into the pieces of a clean, short, spoken reply.

    Feed it each token's text with :meth:`feed` (it returns the text that can be released now) and call
    :meth:`finish` when the model stops (it returns the rest). When :attr:`done` is true the reply is
    complete and the backend should stop generating.

    Args:
        options: Length, stop strings and sentence limits.
    """

    def __init__(self, options: GenerationOptions) -> None:
        self.options = options
        self.stops = options.all_stops
        self.raw = ""
        self.tokens = 0.0
        self.done = False
        self._start: int | None = None  # where the reply starts in raw, once the role prefix is settled
        self._emitted = 0  # characters of the reply already released
        self._end: int | None = None  # where the reply ends, once known
        self._sentences = SentenceCounter(options.max_sentences)

    @property
    def reply(self) -> str:
        """The reply text as far as it is settled."""
        if self._start is None:
            return ""
        return self.raw[self._start : self._end] if self._end is not None else self.raw[self._start :]

    def _settle_start(self, final: bool) -> bool:
        if self._start is not None:
            return True
        stripped = self.raw.lstrip()
        offset = len(self.raw) - len(stripped)
        match = ROLE_PREFIX.match(stripped)
        if match and (match.end() < len(stripped) or final):
            self._start = offset + match.end()
            return True
        if final or (stripped and not could_be_role_marker(stripped)):
            self._start = offset
            return True
        return False

    def _find_end(self, final: bool) -> None:
        body = self.raw[self._start :]
        # stop strings end the reply where they begin
        cut = min((i for i in (body.find(s) for s in self.stops) if i >= 0), default=-1)
        if cut >= 0:
            self._end = self._start + cut
            self.done = True
        limit = cut if cut >= 0 else len(body)
        # sentence ends: count them, and stop at one once the length or sentence limit is reached
        for end in self._sentences.ends(body, stop=limit):
            if self.tokens >= self.options.target_tokens or self._sentences.full:
                self._end = self._start + end
                self.done = True
                return
        if not self.done and self.tokens >= self.options.token_budget:
            self.done = True  # hard cap: the grace tokens are spent without a sentence end
        if final:
            self.done = True

    def _release(self, final: bool) -> str:
        if self._start is None:
            return ""
        reply = self.reply
        if self.done or final:
            reply = reply.rstrip()
            safe = len(reply)
        else:
            # hold back trailing white space (the reply may end there) and a possible stop-string start
            safe = len(reply.rstrip())
            safe = min(safe, len(reply) - _held_back_stop_prefix(reply, self.stops))
        if safe <= self._emitted:
            return ""
        piece = reply[self._emitted : safe]
        if self._emitted == 0:
            piece = piece.lstrip()
            if not piece:
                return ""
        self._emitted = safe
        return piece

    def feed(self, piece: str, tokens: float = 1.0) -> str:
        """Add one token's text (``tokens`` is how many tokens it was) and return what can be released."""
        if self.done:
            return ""
        self.raw += piece
        self.tokens += tokens
        if not self._settle_start(final=False):
            if self.tokens >= self.options.token_budget:
                self.done = True
                self._settle_start(final=True)
            else:
                return ""
        self._find_end(final=False)
        return self._release(final=self.done)

    def finish(self) -> str:
        """The model stopped: settle the reply and return the rest of it."""
        if self._start is None:
            self._settle_start(final=True)
        if self._end is None:
            self._find_end(final=True)
        self.done = True
        return self._release(final=True)


def shape_stream(pieces: Iterable[str], options: GenerationOptions) -> Iterator[str]:
    """Shape an iterator of token pieces (one token each) into reply pieces; closes it when done early."""
    shaper = ReplyShaper(options)
    iterator = iter(pieces)
    try:
        for piece in iterator:
            out = shaper.feed(piece)
            if out:
                yield out
            if shaper.done:
                break
        rest = shaper.finish()
        if rest:
            yield rest
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()


def shape_text(text: str, options: GenerationOptions, tokens: int | None = None) -> str:
    """Shape a whole reply that was generated in one go (``tokens``: how many tokens it was, if known)."""
    words = re.findall(r"\S+\s*|\s+", text)
    if not words:
        return ""
    per_word = (tokens / len(words)) if tokens else 1.0
    shaper = ReplyShaper(options)
    out = []
    for word in words:
        out.append(shaper.feed(word, per_word))
        if shaper.done:
            break
    out.append(shaper.finish())
    return "".join(out)


class TokenStreamLLM:
    """``stream_generate`` and ``generate`` for backends that produce raw text pieces.

    A subclass sets ``self.options`` (a :class:`GenerationOptions`) and implements
    ``_token_pieces(messages, options) -> Iterator[str]`` (and :meth:`load` if it loads a model lazily);
    replies are then checked, shaped for speech and joined the same way by every such backend.

    A backend that can continue a reply whose start is given (``prefix``: the assistant's first words, e.g. an
    opener already spoken) takes ``prefix`` in ``_token_pieces`` too and says so in :meth:`can_continue`.
    """

    options: GenerationOptions

    def _token_pieces(
        self, messages: list[dict[str, str]], options: GenerationOptions, prefix: str = ""
    ) -> Iterator[str]:
        raise NotImplementedError

    def can_continue(self) -> bool:
        """Whether this backend can continue a reply from a given start (``prefix``); ``False`` here."""
        return False

    def _check_prefix(self, prefix: str | None) -> str:
        if not prefix:
            return ""
        if not self.can_continue():
            raise ConfigError(
                f"The LLM backend {type(self).__name__} cannot continue a reply from a given start (prefix); "
                "turn run.opener off, or use the llama-cpp backend."
            )
        return str(prefix)

    def load(self) -> None:
        """Load the model now, without generating anything (otherwise it loads on the first reply).

        Time this to measure loading alone; ``warmup()`` may also run the model once. The base class has
        nothing to load.
        """

    def token_pieces(
        self, messages: Sequence[Mapping[str, str]], prefix: str | None = None, **options: Any
    ) -> Iterator[str]:
        """Yield the model's raw output, one piece per token, before any shaping for speech.

        Unlike :meth:`stream_generate`, nothing is cut: no role prefix is removed and the reply is not ended
        at a sentence, only at a stop string or after ``target_tokens + sentence_grace`` tokens. Benchmarks
        use it to count and time tokens.

        Args:
            messages: Chat messages, as for :meth:`stream_generate`.
            prefix: The start of the assistant's reply, already written (see :meth:`stream_generate`).
            **options: Per-call overrides of the :class:`GenerationOptions` (``target_tokens``,
                ``temperature``, ``sentence_grace``...).

        Yields:
            The text of each generated token.

        Raises:
            ConfigError: malformed messages or an unknown option.
        """
        return self._pieces(check_messages(messages), self.options.with_overrides(options), prefix)

    def _pieces(self, messages: list[dict[str, str]], options: GenerationOptions, prefix: str | None) -> Iterator[str]:
        prefix = self._check_prefix(prefix)
        return self._token_pieces(messages, options, prefix=prefix) if prefix else self._token_pieces(messages, options)

    def stream_generate(
        self, messages: Sequence[Mapping[str, str]], prefix: str | None = None, **options: Any
    ) -> Iterator[str]:
        """Yield the reply in pieces (about one token each) as the model produces them.

        Args:
            messages: Chat messages ``[{"role": "system" | "user" | "assistant", "content": str}, ...]``.
            prefix: The start of the assistant's reply, already written (an opener spoken ahead of time,
                "Oh no."): the model reads it as the first words of its answer and writes what follows. Only
                the continuation is yielded, its first piece without leading white space (join them with
                :func:`join_reply`); ``target_tokens`` and ``max_sentences`` count the continuation alone.
                Needs :meth:`can_continue`.
            **options: Per-call overrides of ``target_tokens``, ``temperature``, ``top_p``, ``seed``, ``stop``,
                ``max_sentences``, ``sentence_grace``.

        Yields:
            Text pieces; joined they are exactly what :meth:`generate` returns.

        Raises:
            ConfigError: malformed messages, an unknown option, or a ``prefix`` this backend cannot continue.
        """
        opts = self.options.with_overrides(options)
        return shape_stream(self._pieces(check_messages(messages), opts, prefix), opts)

    def generate(self, messages: Sequence[Mapping[str, str]], prefix: str | None = None, **options: Any) -> str:
        """The whole reply to ``messages`` (see :meth:`stream_generate` for the arguments)."""
        return "".join(self.stream_generate(messages, prefix, **options))


def join_reply(opener: str, continuation: str) -> str:
    """A reply's given start and the continuation the LLM wrote after it, as one text.

    A space goes between them, except when the continuation starts with punctuation or either side is
    written without spaces (Chinese, Japanese: the opener ends, or the continuation starts, with such a
    character).
    """
    opener, continuation = opener.strip(), continuation.strip()
    if not opener or not continuation:
        return opener or continuation
    if continuation[0] in ",.;:!?)]}'\"…、，。！？；：" or _unspaced(opener[-1]) or _unspaced(continuation[0]):
        return opener + continuation
    return opener + " " + continuation


def _unspaced(char: str) -> bool:
    """Whether ``char`` belongs to a script written without spaces between words (CJK, kana, full-width)."""
    code = ord(char)
    return 0x3000 <= code <= 0x9FFF or 0xF900 <= code <= 0xFAFF or 0xFF00 <= code <= 0xFFEF
