"""Speak a reply while it is being written, and what every speaking system shares around it.

The helpers every system that speaks uses live here too, beside the loop: :func:`build_tts` (the voice,
with the event bank wired in), :data:`FALLBACK_REPLY` (said when a reply is empty), and the turn without
speech (:func:`no_speech_perception`, :func:`ask_again`: a fixed request to say it again, no LLM call,
``speech_detected`` false).

The loop: text pieces in, one spoken sentence at a time out.

Every system that writes text and speaks it (the cascade, E-chat, ParalinGPT, the topline) uses
:func:`speak_as_written`, so they all stream, time and cancel the same way:

- each finished sentence (:func:`emotionlayer.text.pop_sentences`) goes to a TTS thread while the text
  source goes on writing the next one, cleaned first: role prefixes go, and stage directions such as
  ``(smiles)`` become paralinguistic tags or are dropped
  (:func:`emotionlayer.paralinguistics.tags.normalise_cues`), so they are never read aloud;
- ``text`` and ``audio`` :class:`~emotionlayer.systems.base.TurnEvent`\\ s are yielded as they happen;
- closing the generator (the caller stopped reading) closes the text source, cancels the sentences not
  yet synthesised and waits for the one being synthesised, so no work goes on afterwards.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Executor, Future
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..audio import Audio
from ..config import PipelineConfig
from ..labels import EMOTIONS
from ..paralinguistics.tags import normalise_cues
from ..text import clean_reply, join_sentences, pop_clause, pop_sentences
from ..types import EmotionPrediction, Response, SpeakingStyle, Transcript, Turn
from .base import Perception, SentenceAudio, TextPiece, TurnEvent, TurnFinished

logger = logging.getLogger(__name__)

#: Said when a system's reply is empty (nothing speakable), so the user is never left in silence.
FALLBACK_REPLY = "Sorry, I didn't quite catch that. Could you say it again?"

#: Said, without calling the LLM, when the speech gate hears no speech (silence, noise, music).
NO_SPEECH_REPLY = "Sorry, I didn't hear anything — could you say that again?"

#: The model name on the transcript and emotion of a turn in which no speech was heard, and the strategy name
#: of its response. Whether speech was heard travels as ``speech_detected`` (on the perception and the turn),
#: never as this name.
NO_SPEECH = "no-speech"

__all__ = [
    "FALLBACK_REPLY",
    "NO_SPEECH",
    "NO_SPEECH_REPLY",
    "SpokenReply",
    "ask_again",
    "build_tts",
    "no_speech_emotion",
    "no_speech_perception",
    "speak_as_written",
]


def build_tts(config: PipelineConfig) -> Any:
    """The TTS a config names, with the event bank wired in when ``run.render_events`` is on.

    Every system that speaks builds its voice with this, so ``[laugh]``-style tags sound the same in all.
    """
    from .. import registry

    tts_params = dict(config.tts.params)
    if config.run.render_events and "event_renderer" not in tts_params:
        accepts = inspect.signature(registry.get_class("tts", config.tts.backend).__init__).parameters
        if "event_renderer" in accepts:
            from ..paralinguistics.insertion import event_renderer

            tts_params["event_renderer"] = event_renderer(config.run.event_bank)
    return registry.create("tts", config.tts.backend, **tts_params)


def no_speech_emotion(labels: tuple[str, ...] = EMOTIONS) -> EmotionPrediction:
    """The emotion of a turn without speech: every label equally likely, model ``no-speech``.

    Nothing was said, so nothing can be said about how; a confident label would be made up. The label is
    ``neutral`` (all are tied).
    """
    label = "neutral" if "neutral" in labels else labels[0]
    return EmotionPrediction(label=label, probabilities={e: 1.0 / len(labels) for e in labels}, model=NO_SPEECH)


def no_speech_perception(
    language: str | None, timings: dict[str, float], emotion: EmotionPrediction | None = None
) -> Perception:
    """What a system heard when its speech gate found no speech: an empty transcript and ``emotion`` (default:
    :func:`no_speech_emotion`), with ``speech_detected`` false."""
    transcript = Transcript("", language, model=NO_SPEECH)
    return Perception(transcript, emotion or no_speech_emotion(), timings, speech_detected=False)


def ask_again(
    perception: Perception, speak: Callable[[str, SpeakingStyle], Audio], clock: Callable[[], float], system: str
) -> Iterator[TurnEvent]:
    """The events of a turn in which no speech was heard: :data:`NO_SPEECH_REPLY` in a neutral voice, no LLM
    call, and a :class:`~emotionlayer.types.Turn` with ``speech_detected`` false.

    Args:
        perception: What the system heard (see :func:`no_speech_perception`; its timings are reported).
        speak: Synthesises a text in a style (e.g. the system's ``speak``).
        clock: Seconds since the turn started.
        system: The system's name, for the turn.
    """
    style = SpeakingStyle()
    yield TextPiece(clock(), text=NO_SPEECH_REPLY)
    t = time.perf_counter()
    audio = speak(NO_SPEECH_REPLY, style)
    tts_time = time.perf_counter() - t
    first_audio = clock()
    yield SentenceAudio(first_audio, text=NO_SPEECH_REPLY, audio=audio)
    timings = {
        **({"vad": perception.timings["vad"]} if "vad" in perception.timings else {}),
        "ser": perception.timings.get("ser", 0.0),
        "asr": perception.timings.get("asr", 0.0),
        "llm": 0.0,
        "tts": tts_time,
        "total": clock(),
        "time_to_first_audio": first_audio,
    }
    turn = Turn(
        transcript=perception.transcript,
        emotion=perception.emotion,
        response=Response(text=NO_SPEECH_REPLY, style=style, strategy=NO_SPEECH),
        audio=audio,
        timings=timings,
        system=system,
        speech_detected=False,
    )
    yield TurnFinished(clock(), turn=turn)


@dataclass(frozen=True)
class SpokenReply:
    """What :func:`speak_as_written` produced.

    Attributes:
        text: The reply as spoken (cleaned sentences, joined).
        audio: All spoken sentences, one after the other (``None`` if nothing was spoken).
        writing_seconds: Time spent waiting for the text source (the LLM's share of the turn).
        speaking_seconds: Time the TTS spent synthesising.
        first_audio: Seconds from the turn's start until the first sentence was ready, if any was.
    """

    text: str
    audio: Audio | None
    writing_seconds: float
    speaking_seconds: float
    first_audio: float | None


def speak_as_written(
    pieces: Iterator[str],
    speak: Callable[[str], Audio],
    pool: Executor,
    clock: Callable[[], float],
    *,
    fallback: str | None = None,
    by_sentence: bool = True,
    first_clause_words: int = 0,
) -> Generator[TurnEvent, None, SpokenReply]:
    """Yield ``text`` and ``audio`` events while ``pieces`` are written and spoken; return the result.

    Use it with ``reply = yield from speak_as_written(...)`` inside a system's ``stream``.

    Args:
        pieces: The reply text, piece by piece (e.g. an LLM's ``stream_generate``). Closed when done.
        speak: Synthesises one sentence (e.g. ``lambda s: tts.synthesize(s, style)``).
        pool: Where synthesis runs (one thread keeps sentences in order and leaves a core to the writer).
        clock: Seconds since the turn started (event times and ``first_audio``).
        fallback: Spoken when the source writes nothing speakable; ``None`` speaks nothing then.
        by_sentence: Speak each sentence as soon as it is finished (else the whole text at the end).
        first_clause_words: With ``by_sentence``, speak the reply's first clause (:func:`pop_clause`, at
            least this many words) as soon as it is written, before its sentence is finished; 0: off.
    """
    speaker = SentenceSpeaker(speak, pool, clock)
    writing = 0.0
    buffer = ""
    try:
        while True:
            start = time.perf_counter()
            piece = next(pieces, None)
            writing += time.perf_counter() - start
            if piece is None:
                break
            yield TextPiece(clock(), text=piece)
            buffer += piece
            if by_sentence:
                sentences, buffer = sentences_to_speak(buffer, first_clause_words, speaker.started)
                for sentence in sentences:
                    speaker.submit(sentence)
                yield from speaker.ready(wait=False)
        speaker.submit(buffer)
        yield from speaker.ready(wait=True)
        if not speaker.spoken and fallback:
            logger.warning("The reply was empty; speaking the fallback reply instead.")
            speaker.submit(fallback)
            yield from speaker.ready(wait=True)
    finally:
        # Runs at the end and also when the caller closes the stream early.
        close = getattr(pieces, "close", None)
        if close is not None:
            close()
        speaker.cancel()
    return speaker.reply(writing)


def sentences_to_speak(buffer: str, first_clause_words: int = 0, started: bool = True) -> tuple[list[str], str]:
    """The sentences finished in ``buffer`` and the text left over.

    Before a reply has ``started`` speaking, a first clause (:func:`pop_clause`, at least ``first_clause_words``
    words) counts as one when no sentence is finished yet; ``first_clause_words=0`` turns that off.
    """
    sentences, buffer = pop_sentences(buffer)
    if first_clause_words > 0 and not sentences and not started:
        clause, buffer = pop_clause(buffer, first_clause_words)
        sentences = [clause] if clause else []
    return sentences, buffer


class SentenceSpeaker:
    """The sentences of one reply on their way to audio, in order.

    Each sentence, once cleaned (role prefixes go; stage directions such as ``(smiles)`` become event tags or
    are dropped), is synthesised in ``pool`` as soon as it is submitted; :meth:`ready` hands back the audio
    of those done, first submitted first.

    Args:
        speak: Synthesises one sentence.
        pool: Where synthesis runs.
        clock: Seconds since the turn started (event times and ``first_audio``).
    """

    def __init__(self, speak: Callable[[str], Audio], pool: Executor, clock: Callable[[], float]) -> None:
        self.speak = speak
        self.pool = pool
        self.clock = clock
        self.pending: deque[tuple[str, Future]] = deque()
        self.chunks: list[Audio] = []
        self.spoken: list[str] = []
        self.speaking_seconds = 0.0
        self.first_audio: float | None = None

    @property
    def started(self) -> bool:
        """Whether a sentence was submitted (spoken or on its way)."""
        return bool(self.pending or self.spoken)

    def _synthesize(self, sentence: str) -> tuple[Audio, float, float]:
        start = time.perf_counter()
        audio = self.speak(sentence)
        return audio, time.perf_counter() - start, self.clock()

    def submit(self, sentence: str) -> None:
        """Clean ``sentence`` and start synthesising it (nothing when nothing speakable is left)."""
        # Stage directions the model wrote ("(smiles)", "*sighs*") become events or are dropped: never read.
        sentence = normalise_cues(clean_reply(sentence))
        if sentence:
            self.pending.append((sentence, self.pool.submit(self._synthesize, sentence)))

    def ready(self, wait: bool) -> Iterator[SentenceAudio]:
        """An ``audio`` event per sentence synthesised, in order: those done, or (``wait``) all submitted."""
        while self.pending and (wait or self.pending[0][1].done()):
            sentence, future = self.pending[0]
            audio, seconds, finished = future.result()
            self.pending.popleft()
            self.speaking_seconds += seconds
            if self.first_audio is None:
                self.first_audio = finished
            self.chunks.append(audio)
            self.spoken.append(sentence)
            yield SentenceAudio(self.clock(), text=sentence, audio=audio)

    def cancel(self) -> None:
        """Cancel the sentences not yet synthesised and wait for those being synthesised."""
        running = [future for _, future in self.pending if not future.cancel()]
        self.pending.clear()
        if running:
            wait_futures(running)

    def reply(self, writing_seconds: float) -> SpokenReply:
        """What was spoken: the sentences joined, their audio one after the other (at the first one's rate)."""
        audio = None
        if self.chunks:
            rate = self.chunks[0].sample_rate
            audio = Audio(np.concatenate([c.resample(rate).samples for c in self.chunks]), rate)
        return SpokenReply(join_sentences(self.spoken), audio, writing_seconds, self.speaking_seconds, self.first_audio)
