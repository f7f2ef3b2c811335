"""When has the user finished speaking? The end-of-turn rule, and which short replies are backchannels.

A live conversation hears a stream of 32 ms frames, each with the VAD's speech probability.
:class:`TurnDetector` turns them into four moments of a user's turn:

- ``speech_start``: the probability stayed at or above ``threshold`` for ``min_speech_seconds``
  (a click, a cough or a bump is shorter). Noise never gets here with the silero VAD, which tells speech
  from noise; the energy VAD hears any sound and is only a fallback.
- ``pause``: the probability fell below ``threshold - 0.15`` (hysteresis) during speech: the user may have
  finished. The session transcribes the turn now, while it waits.
- ``resume``: speech again before the end of the turn: the pause was a breath.
- ``end_of_turn``: the pause lasted long enough. *How* long depends on what was said so far
  (:func:`phrase_finished`): ``finished_silence_seconds`` after a finished phrase (the transcript ends in
  ``.``, ``?`` or ``!``), ``unfinished_silence_seconds`` after an unfinished one (it ends in a conjunction
  or a filler such as "and", "but", "so", "um", in "..." or a comma, or has no end punctuation), and the
  longer wait while the transcript of the pause is not known yet.

:func:`is_backchannel` tells a listener's "uh-huh", "mm", "okay", "yeah" (which must not interrupt the
reply) from a real interruption.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any

from ..audio import NO_SPEECH_THRESHOLD
from ..errors import ConfigError

#: Words after which a phrase is not finished: conjunctions, fillers, articles and possessives.
UNFINISHED_WORDS: frozenset[str] = frozenset(
    """and but or nor so because cause since although though while whereas if unless until than that which
    um umm uh uhh er erm ah like the a an my your our their""".split()
)

#: Short replies a listener makes while the other one talks; they do not take the turn.
BACKCHANNELS: frozenset[str] = frozenset(
    """uh-huh uh huh uhhuh mhm mhmm mm-hmm mm-hm mmhmm hm-hm hmm-hmm mm hmm mmm hm hmmm ok okay k
    yeah yea yep yup yes ya right sure alright all i see got it gotcha cool nice great good true exactly
    indeed really wow oh ah aha ahh oh-oh uh um""".split()
)

#: At most this many words make a backchannel ("oh okay", "yeah yeah right").
BACKCHANNEL_MAX_WORDS = 4

_WORD = re.compile(r"[a-z]+(?:[-'][a-z]+)*")


@dataclass(frozen=True)
class LiveConfig:
    """Every threshold of a live session, with its default. All times are seconds of audio.

    Attributes:
        vad: The VAD backend: ``silero`` (default: tells speech from noise) or ``energy`` (any sound counts;
            a fallback for tests and machines without the model).
        threshold: Frame speech probability that counts as speech (silence is below ``threshold - 0.15``).
        min_speech_seconds: Speech must last this long to start a turn (shorter: a click, a bump).
        finished_silence_seconds: Silence that ends a turn after a finished phrase (". ? !").
        unfinished_silence_seconds: Silence that ends a turn after an unfinished phrase ("and", "um", no
            end punctuation), or while the pause's transcript is not known yet.
        max_turn_seconds: A turn this long ends at the next pause of ``finished_silence_seconds``.
        pre_roll_seconds: Audio kept from before the start of speech (the VAD starts a little late).
        tail_seconds: Audio kept after the last voiced frame in the turn given to the system.
        partial_interval_seconds: Transcribe the growing turn this often while the user speaks (0: never;
            the transcript then comes at the pause only). Whisper cannot be stopped half-way, so the
            final transcript waits for a partial one still running at the pause (see docs/live.md).
        speculative: Start the reply (ASR, SER, LLM, TTS) at the pause, before the end of the turn is
            decided; its output is held back until then, and thrown away if the user goes on.
        barge_in: Whether the user's speech during the reply can interrupt it.
        barge_in_min_seconds: Speech during the reply shorter than this never interrupts (a cough, a knock).
        pause_on_speech: Pause playback as soon as speech is heard during the reply (``min_speech_seconds``;
            a reply not playing yet is held back too), and resume it if the speech turns out to be a
            backchannel or a short noise.
        no_speech_threshold: A turn whose transcript has this no-speech probability or more is dropped.
        output_rate: Sample rate of the reply audio given to the output sink.
    """

    vad: str = "silero"
    threshold: float = 0.5
    min_speech_seconds: float = 0.15
    finished_silence_seconds: float = 0.45
    unfinished_silence_seconds: float = 1.2
    max_turn_seconds: float = 30.0
    pre_roll_seconds: float = 0.2
    tail_seconds: float = 0.1
    partial_interval_seconds: float = 0.6
    speculative: bool = True
    barge_in: bool = True
    barge_in_min_seconds: float = 0.35
    pause_on_speech: bool = True
    no_speech_threshold: float = NO_SPEECH_THRESHOLD
    output_rate: int = 16000

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError(f"threshold must be between 0 and 1, got {self.threshold}.")
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_seconds") and float(value) < 0:
                raise ConfigError(f"{f.name} must be >= 0 seconds, got {value}.")
        if self.unfinished_silence_seconds < self.finished_silence_seconds:
            raise ConfigError(
                "unfinished_silence_seconds must be at least finished_silence_seconds "
                f"({self.unfinished_silence_seconds} < {self.finished_silence_seconds})."
            )
        if self.vad not in ("silero", "energy"):
            raise ConfigError(f"vad must be 'silero' or 'energy', got {self.vad!r}.")

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LiveConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"Unknown live setting(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}.")
        return cls(**data)


def words(text: str) -> list[str]:
    """Lower-case words of ``text`` (hyphens and apostrophes inside words kept)."""
    return _WORD.findall(text.lower())


def phrase_finished(text: str) -> bool:
    """Whether a partial transcript reads as a finished phrase (the shorter end-of-turn wait applies).

    Finished: it ends in ``.``, ``?`` or ``!`` (not "...") and its last word is not a conjunction, filler,
    article or possessive (:data:`UNFINISHED_WORDS`: whisper sometimes writes "and." for a trailing "and").
    Everything else is unfinished: no end punctuation, a comma, a dash, "...", or an empty transcript.
    """
    stripped = text.strip().rstrip("\"')]")
    if not stripped or stripped.endswith(("...", "…", ",", "-", "—", ";", ":")):
        return False
    if not stripped.endswith((".", "?", "!")):
        return False
    said = words(stripped)
    return bool(said) and said[-1] not in UNFINISHED_WORDS


def is_backchannel(text: str) -> bool:
    """Whether ``text`` is only a listener's signal ("uh-huh", "mm", "ok", "yeah right"): not an interruption.

    An empty transcript counts too (nothing was recognised: a noise). At most
    :data:`BACKCHANNEL_MAX_WORDS` words, each in :data:`BACKCHANNELS`.
    """
    said = words(text)
    if not said:
        return True
    if len(said) > BACKCHANNEL_MAX_WORDS:
        return False
    return all(w in BACKCHANNELS or w.replace("-", "") in BACKCHANNELS for w in said)


class TurnDetector:
    """The end-of-turn rule as a state machine over frame speech probabilities (see the module docstring).

    Feed it every frame with :meth:`update`; tell it what was said with :meth:`set_transcript` (the
    transcript of the turn up to the current pause). States: ``idle``, ``speech``, ``pause``.

    Args:
        config: The thresholds.
    """

    def __init__(self, config: LiveConfig | None = None) -> None:
        self.config = config or LiveConfig()
        self.low = max(self.config.threshold - 0.15, 0.01)
        self.reset()

    def reset(self) -> None:
        """Back to ``idle``: no speech, no transcript."""
        self.state = "idle"
        self.run_start: float | None = None
        self.speech_start: float | None = None
        self.last_voiced: float | None = None
        self.pause_start: float | None = None
        self.transcript: str | None = None

    def set_transcript(self, text: str | None) -> None:
        """The transcript of the turn up to the current pause (``None``: not known yet)."""
        self.transcript = text

    def silence_needed(self) -> float:
        """Seconds of silence that end the turn now, given the transcript known so far."""
        cfg = self.config
        if self.transcript is None:
            return cfg.unfinished_silence_seconds
        if self.speech_start is not None and self.last_voiced is not None:
            if self.last_voiced - self.speech_start >= cfg.max_turn_seconds:
                return cfg.finished_silence_seconds
        return cfg.finished_silence_seconds if phrase_finished(self.transcript) else cfg.unfinished_silence_seconds

    def update(self, probability: float, start: float, end: float) -> list[str]:
        """Take one frame (``start``-``end`` seconds) and its speech probability; return what happened.

        Returns:
            Zero or more of ``"speech_start"``, ``"pause"``, ``"resume"``, ``"end_of_turn"``, in order.
        """
        cfg = self.config
        out: list[str] = []
        voiced = probability >= cfg.threshold
        if self.state == "idle":
            if voiced:
                if self.run_start is None:
                    self.run_start = start
                if end - self.run_start >= cfg.min_speech_seconds - 1e-9:
                    self.state = "speech"
                    self.speech_start = self.run_start
                    self.last_voiced = end
                    self.transcript = None
                    out.append("speech_start")
            else:
                self.run_start = None
            return out
        if voiced:
            self.last_voiced = end
            if self.state == "pause":
                self.state = "speech"
                self.pause_start = None
                self.transcript = None
                out.append("resume")
            return out
        if self.state == "speech":
            if probability >= self.low:
                return out  # wavering between the two thresholds: still speech
            self.state = "pause"
            self.pause_start = self.last_voiced if self.last_voiced is not None else start
            self.transcript = None
            out.append("pause")
        assert self.pause_start is not None
        if end - self.pause_start >= self.silence_needed() - 1e-9:
            out.append("end_of_turn")
            self.state = "idle"
            self.run_start = None
        return out
