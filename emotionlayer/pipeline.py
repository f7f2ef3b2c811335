"""The cascade: hear what was said and how, decide how to answer, say it.

``CascadePipeline.respond(utterance, history)`` runs four public steps, each usable on its own:

1. :meth:`~CascadePipeline.perceive` - the speech gate (is anyone speaking?), then SER and ASR at the
   same time;
2. :meth:`~CascadePipeline.render_prompt` - the jinja2 prompt and the empathy strategy;
3. :meth:`~CascadePipeline.generate` - the LLM reply (or :meth:`~CascadePipeline.stream_text`);
4. :meth:`~CascadePipeline.speak` - TTS in the strategy's speaking style.

:meth:`~CascadePipeline.stream` runs the same steps but speaks each sentence as soon as the LLM has
finished it, yielding events as they happen; ``respond`` is built on it, so the time to first audio is
measured the way a live conversation would feel it.

The speech gate (``run.speech_gate``, on by default) keeps the cascade from making an answer up for
silence, noise or music: the VAD (``vad`` component) looks for speech first, and the ASR's own no-speech
signal (an empty transcript, whisper's no-speech probability) is checked after it. When no speech is
found the turn says so (``Turn.speech_detected`` is false), its emotion is a uniform ``no-speech``
prediction, the LLM is not called, and the reply is :data:`NO_SPEECH_REPLY` in a neutral voice.

With ``run.detect_events`` the event detector (``events`` component) listens to the user's audio too, beside
the SER: the laughs, sighs, coughs... it hears at ``run.event_threshold`` or above go on the
:class:`~emotionlayer.types.Turn` (``events``) and to the prompt template (``events``). With
``run.chinese_script`` the transcript and the reply are written in Simplified (or Traditional) characters.

Stage directions the LLM writes (``(smiles)``, ``*laughs*``, ``<sigh>``) are never spoken: each reply
sentence goes through :func:`~emotionlayer.paralinguistics.tags.normalise_cues`, which turns a cue the
event bank can play into its tag (``[laugh]``) and drops the others.

With ``run.opener`` a reply starts with a short opener its empathy strategy gives (``openers`` in the
config's strategies: "Oh no.", "That's great!"), spoken from audio synthesised ahead of time (at
:meth:`~CascadePipeline.warmup`) as soon as the strategy is known; the LLM is given the opener as the start
of its answer and writes the rest, so the words stay one reply (:attr:`Response.opener
<emotionlayer.types.Response.opener>` says which part was the opener, the events mark its text and audio).

The cascade is the dialogue system registered as ``cascade`` (see :mod:`emotionlayer.systems`): it answers
the same ``respond``/``stream`` calls as the end-to-end models.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from .components.guard import build_guard
from .components.guard.default import GuardedReply
from .components.llm._reply import join_reply
from .config import PipelineConfig
from .paralinguistics.tags import normalise_cues
from .prompting import PromptRenderer, RenderedPrompt
from .registry import register
from .systems.base import (
    Perceived,
    Perception,
    PromptRendered,
    SentenceAudio,
    StreamEvent,
    TextPiece,
    TurnEvent,
    TurnFinished,
    UtteranceLike,
    as_utterance,
    turn_from_stream,
)
from .systems.speech import (
    FALLBACK_REPLY,
    NO_SPEECH,
    NO_SPEECH_REPLY,
    ask_again,
    build_tts,
    no_speech_emotion,
    no_speech_perception,
    speak_as_written,
)
from .text import chinese_converter, clean_reply
from .types import (
    Audio,
    Dialogue,
    EmotionPrediction,
    HeardEvent,
    Response,
    SpeakingStyle,
    Transcript,
    Turn,
    Utterance,
    VocalEvent,
)

logger = logging.getLogger(__name__)

# FALLBACK_REPLY, NO_SPEECH_REPLY, NO_SPEECH, build_tts and no_speech_emotion live beside the speech loop
# (emotionlayer.systems.speech), where every speaking system finds them; they are re-exported here.
__all__ = [
    "FALLBACK_REPLY",
    "NO_SPEECH",
    "NO_SPEECH_REPLY",
    "CascadePipeline",
    "Perception",
    "StreamEvent",
    "TurnEvent",
    "build_pipeline",
    "build_tts",
    "no_speech_emotion",
]


@dataclass
class GuardCheck:
    """What the reply guard checks a reply against (the user's words, the last answer) and its record."""

    user: str
    previous: str = ""
    record: GuardedReply = field(default_factory=GuardedReply)


def _last_answer(history: Dialogue | None) -> str:
    heard = [turn for turn in history.turns if turn.speech_detected] if history else []
    return heard[-1].response.text if heard else ""


@register("system", "cascade")
class CascadePipeline:
    """SER + ASR -> prompt -> LLM -> TTS, with every step public; the ``cascade`` dialogue system.

    Build it from a config with :meth:`from_config`, or pass components directly (anything that
    implements the Protocols in :mod:`emotionlayer.components.base`, e.g. the fakes in
    :mod:`emotionlayer.testing`).

    Args:
        ser: Speech emotion recogniser (``predict``).
        asr: Speech recogniser (``transcribe``).
        llm: Language model (``generate`` and ``stream_generate``).
        tts: Speech synthesiser (``synthesize``, ``sample_rate``).
        renderer: Prompt renderer; defaults to the packaged template and strategies.
        config: The config the pipeline runs by (limits, streaming, language, the speech gate).
        vad: Voice activity detector (``speech_segments``) for the speech gate. Without one the gate
            (when ``config.run.speech_gate`` is on) relies on the ASR's no-speech signal alone.
        events: Vocal event detector (``detect_in_turn`` or ``detect``) run on the user's audio in every turn;
            ``None``: no events are listened for. :meth:`from_config` builds one when ``run.detect_events``.
    """

    name = "cascade"
    requires: tuple[str, ...] = ()
    extra = None

    def __init__(
        self,
        ser: Any,
        asr: Any,
        llm: Any,
        tts: Any,
        renderer: PromptRenderer | None = None,
        config: PipelineConfig | None = None,
        vad: Any = None,
        events: Any = None,
        guard: Any = None,
    ) -> None:
        self.ser = ser
        self.asr = asr
        self.llm = llm
        self.tts = tts
        self.vad = vad
        self.events = events
        self.guard = guard
        self.config = config or PipelineConfig.default()
        self._script = chinese_converter(self.config.run.chinese_script)
        self.renderer = renderer or PromptRenderer.from_config(self.config)
        self._executor: ThreadPoolExecutor | None = None
        self._tts_executor: ThreadPoolExecutor | None = None
        self._opener_audio: dict[tuple[str, SpeakingStyle], Audio] = {}
        self._continues: bool | None = None

    @classmethod
    def from_config(cls, config: PipelineConfig | str | dict | None = None) -> CascadePipeline:
        """Build every component a config names (the packaged offline default when ``None``).

        The ``vad`` component is built only when ``run.speech_gate`` is on, the event detector (the packaged
        ``events`` backend, reporting at ``run.event_threshold``, pauses off) only when ``run.detect_events``.

        Args:
            config: A :class:`PipelineConfig`, a path to a YAML/JSON file, a dict, or ``None``.
        """
        from . import registry

        config = PipelineConfig.coerce(config)
        if config.prompt.prosody:
            logger.warning(
                "prompt.prosody is on, but the pipeline does not measure speaking rate or loudness from audio: "
                "its turns render without them (the option is for StyleTalk training and evaluation, whose rows "
                "carry them). See docs/llm.md."
            )
        parts = {
            kind: registry.create(kind, section.backend, **section.params)
            for kind, section in (("ser", config.ser), ("asr", config.asr), ("llm", config.llm))
        }
        parts["tts"] = build_tts(config)
        if config.run.speech_gate:
            parts["vad"] = registry.create("vad", config.vad.backend, **config.vad.params)
        if config.run.detect_events:
            parts["events"] = registry.create(
                "events", "default", min_confidence=config.run.event_threshold, min_pause=0.0
            )
        parts["guard"] = build_guard(config)
        return cls(**parts, renderer=PromptRenderer.from_config(config), config=config)

    # -- helpers --------------------------------------------------------------------------------
    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="emotionlayer-perceive")
        return self._executor

    def _tts_pool(self) -> ThreadPoolExecutor:
        if self._tts_executor is None:
            self._tts_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="emotionlayer-tts")
        return self._tts_executor

    def close(self) -> None:
        """Release the worker threads (models stay cached for the process)."""
        for pool in (self._executor, self._tts_executor):
            if pool is not None:
                pool.shutdown(wait=False)
        self._executor = self._tts_executor = None

    def __enter__(self) -> CascadePipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def as_utterance(self, utterance: UtteranceLike) -> Utterance:
        """Accept an :class:`Utterance`, an :class:`Audio`, a path, file bytes or an array (16 kHz assumed)."""
        return as_utterance(utterance, max_seconds=self.config.run.max_seconds)

    def warmup(self) -> None:
        """Load every model now (otherwise they load on first use); with ``run.opener``, synthesise every
        strategy's openers (:meth:`prime_openers`)."""
        for part in (self.vad, self.ser, self.asr, self.llm, self.tts, self.events):
            warm = getattr(part, "warmup", None)
            if callable(warm):
                warm()
        self.prime_openers()

    # -- openers --------------------------------------------------------------------------------
    def can_continue(self) -> bool:
        """Whether the LLM can continue a reply from a given start (needed for ``run.opener``)."""
        if self._continues is None:
            check = getattr(self.llm, "can_continue", None)
            self._continues = bool(check()) if callable(check) else False
        return self._continues

    def opener_for(self, prompt: RenderedPrompt, history: Dialogue | None = None) -> str:
        """The opener this turn's reply starts with ("" when none: ``run.opener`` off, the strategy has no
        openers in the turn's language, or the LLM cannot continue a reply).

        A strategy's openers take turns along the conversation (the n-th answered turn takes the n-th opener),
        so the same words do not start every reply.
        """
        if not (self.config.run.opener and prompt.strategy.openers) or not self.can_continue():
            return ""
        return pick_opener(prompt.strategy.openers, history)

    def opener_audio(self, opener: str, style: SpeakingStyle | None) -> Audio:
        """The opener spoken in ``style``: synthesised once, then kept (see :meth:`prime_openers`).

        The voice's silence before the opener is cut to :data:`OPENER_LEAD_SECONDS` and after it to
        :data:`OPENER_TAIL_SECONDS` (a comma's pause), so the opener is heard at once and the LLM's words
        follow it closely.
        """
        key = (opener, style or SpeakingStyle())
        audio = self._opener_audio.get(key)
        if audio is None:
            audio = self._opener_audio[key] = trim_silence(self.speak(opener, style))
        return audio

    def prime_openers(self) -> int:
        """With ``run.opener``, synthesise now every strategy's openers (in its style, in ``run.language`` or
        English), so that a reply's first words are ready the moment its strategy is. Returns how many are kept.
        """
        if not self.config.run.opener or not self.can_continue():
            return len(self._opener_audio)
        for strategy in self.renderer.strategies.values():
            local = strategy.in_language(self.config.run.language)
            for opener in local.openers:
                self.opener_audio(opener, local.style)
        return len(self._opener_audio)

    def prime_prompts(self) -> int:
        """Evaluate the start of every empathy strategy's prompt now, so that no turn waits for it.

        The prompt names the strategy (and shows its example exchange) before the user's words, so a
        turn whose strategy differs from the previous turn's cannot reuse the LLM's cached prompt and
        evaluates the whole prompt again (about 0.6-0.9 s more before the first token with the packaged
        model on 2 CPU cores). An LLM that keeps several prompt states (the llama.cpp backend's
        ``saved_states``) starts each turn from its strategy's state instead. Replies do not change.
        Takes about 5 s with the packaged model; live mode calls it on start.

        Returns:
            How many prompt states the LLM keeps now (0 if its backend cannot keep any).
        """
        prime = getattr(self.llm, "prime", None)
        if not callable(prime):
            return 0
        conversations = []
        for label in self.renderer.strategies:
            prompt = self.renderer.render("...", EmotionPrediction.certain(label), language=self.config.run.language)
            conversations.append(prompt.messages)
        return int(prime(conversations))

    # -- the four steps -------------------------------------------------------------------------
    def perceive(self, utterance: UtteranceLike) -> Perception:
        """Recognise what was said (ASR) and how (SER), concurrently when the config says so.

        Text or emotion given on the utterance is used as is, and the matching recogniser is skipped.
        With the speech gate on (``run.speech_gate``) spoken input is checked for speech first (the
        VAD; ASR and SER do not run when it finds none) and after the ASR (an empty transcript, or a
        no-speech probability of at least ``run.no_speech_threshold``). Input without speech gives
        an empty transcript and a uniform emotion, both with model ``no-speech``, and ``speech_detected``
        false (see :meth:`heard_speech`); an emotion given on the utterance is kept. With an event detector
        (``run.detect_events``) the vocal events in the audio are found beside the SER (``events``;
        ``timings["events"]``). With ``run.chinese_script`` the transcript is written in that script.
        """
        utt = self.as_utterance(utterance)
        language = utt.language or self.config.run.language
        timings: dict[str, float] = {}
        gate = self.config.run.speech_gate and utt.audio is not None and not (utt.text and utt.text.strip())

        def no_speech(why: str) -> Perception:
            logger.info("No speech heard (%s); the LLM is not asked, the user is asked to say it again.", why)
            emotion = EmotionPrediction.certain(utt.emotion) if utt.emotion is not None else None
            return no_speech_perception(language, timings, emotion)

        if gate and self.vad is not None:
            assert utt.audio is not None
            start = time.perf_counter()
            segments = self.vad.speech_segments(utt.audio)
            timings["vad"] = time.perf_counter() - start
            if not segments:
                return no_speech(f"{getattr(self.vad, 'name', 'the VAD')} found no speech")

        def run_asr() -> Transcript:
            start = time.perf_counter()
            try:
                if utt.text is not None and utt.text.strip():
                    transcript = Transcript(utt.text.strip(), language, model="given")
                else:
                    assert utt.audio is not None
                    transcript = self.asr.transcribe(utt.audio, language=language)
                if self._script is not None:
                    transcript = replace(transcript, text=self._script(transcript.text))
                return transcript
            finally:
                timings["asr"] = time.perf_counter() - start

        def run_ser() -> EmotionPrediction:
            start = time.perf_counter()
            try:
                if utt.emotion is not None:
                    return EmotionPrediction.certain(utt.emotion)
                if utt.audio is None:
                    return EmotionPrediction.certain("neutral", model="no-audio")
                return self.ser.predict(utt.audio)
            finally:
                timings["ser"] = time.perf_counter() - start

        start = time.perf_counter()
        listen = self.events is not None and utt.audio is not None
        if self.config.run.concurrent_perception and utt.audio is not None:
            ser_future = self._pool().submit(run_ser)
            events_future = self._pool().submit(self._listen, utt.audio, timings) if listen else None
            transcript = run_asr()
            emotion = ser_future.result()
            events = events_future.result() if events_future is not None else ()
        else:
            emotion = run_ser()
            events = self._listen(utt.audio, timings) if listen else ()
            transcript = run_asr()
        timings["perceive"] = time.perf_counter() - start + timings.get("vad", 0.0)
        if gate:
            if not transcript.text.strip():
                return no_speech(f"{transcript.model or 'the ASR'} recognised no words")
            threshold = self.config.run.no_speech_threshold
            if transcript.no_speech_prob is not None and transcript.no_speech_prob >= threshold:
                asr = transcript.model or "the ASR"
                return no_speech(f"{asr}: no-speech probability {transcript.no_speech_prob:.2f} >= {threshold}")
        return Perception(transcript=transcript, emotion=emotion, timings=timings, events=events)

    def _listen(self, audio: Audio | None, timings: dict[str, float]) -> tuple[HeardEvent, ...]:
        """The vocal events the detector hears in ``audio`` at ``run.event_threshold`` or above (no pauses)."""
        assert audio is not None
        start = time.perf_counter()
        try:
            detect_in_turn = getattr(self.events, "detect_in_turn", None)
            found = detect_in_turn(audio) if callable(detect_in_turn) else self.events.detect(audio)
        finally:
            timings["events"] = time.perf_counter() - start
        threshold = self.config.run.event_threshold
        return tuple(
            event
            if isinstance(event, HeardEvent)
            else HeardEvent(event.label, event.start, event.end, event.confidence)
            for event in found
            if event.label != "pause" and event.confidence >= threshold
        )

    @staticmethod
    def heard_speech(perception: Perception) -> bool:
        """Whether :meth:`perceive` heard speech (``False`` when its speech gate found none).

        A perception made by older code says "no speech" only by its transcript's model name
        :data:`NO_SPEECH`; that is still read.
        """
        return perception.speech_detected and perception.transcript.model != NO_SPEECH

    def render_prompt(
        self,
        transcript: Transcript | str,
        emotion: EmotionPrediction,
        history: Dialogue | None = None,
        events: tuple[VocalEvent, ...] = (),
    ) -> RenderedPrompt:
        """Render the prompt and pick the empathy strategy and speaking style for the answer.

        The turn's language (the transcript's, else ``run.language``) picks the template and the strategy's
        words; ``events`` (from :meth:`perceive`) become the template's ``events``.
        """
        text = transcript.text if isinstance(transcript, Transcript) else transcript
        language = transcript.language if isinstance(transcript, Transcript) else None
        language = language or self.config.run.language
        if not text.strip():
            text = "(no words could be recognised)"
        return self.renderer.render(text, emotion, history, language, events)

    def stream_text(self, prompt: RenderedPrompt, check: GuardCheck | None = None, opener: str = "") -> Iterator[str]:
        """Yield the reply piece by piece as the LLM produces it (in ``run.chinese_script``, if set).

        With a reply guard and ``check`` (what the user said, the last answer), the first sentence is held
        back until the guard passes it; what the guard did is filled into ``check.record``. With an
        ``opener`` the LLM continues the reply from it: only what follows the opener is yielded (its first
        piece starting with the space that joins it to the opener, where one is needed).
        """
        extra = {"prefix": opener} if opener else {}
        if self.guard is not None and check is not None:
            pieces = self.guard.stream(
                self.llm, prompt.messages, check.user, prompt.strategy.name, check.previous, check.record, **extra
            )
        else:
            pieces = self.llm.stream_generate(prompt.messages, **extra)
        if opener:
            pieces = _after(opener, pieces)
        if self._script is None:
            yield from pieces
        else:
            for piece in pieces:
                yield self._script(piece)

    def generate(self, prompt: RenderedPrompt, check: GuardCheck | None = None, opener: str = "") -> str:
        """The whole reply text, cleaned for speaking (a short apology if the LLM said nothing).

        Stage directions become event tags (``(laughs)`` -> ``[laugh]``) or are dropped (``(smiles)``). With an
        ``opener``, the LLM's continuation of it (the opener not included; empty when it wrote nothing more).
        """
        if check is not None or opener:
            reply = "".join(self.stream_text(prompt, check, opener))  # in run.chinese_script already
        else:
            reply = self.llm.generate(prompt.messages)
            reply = self._script(reply) if self._script is not None else reply
        reply = normalise_cues(clean_reply(reply))
        if not reply and opener:
            return ""
        if not reply:
            logger.warning("The LLM returned an empty reply; speaking the fallback reply instead.")
            return FALLBACK_REPLY
        return reply

    def speak(self, text: str, style: SpeakingStyle | None = None) -> Audio:
        """Synthesise ``text`` in ``style``."""
        return self.tts.synthesize(text, style)

    # -- whole turns ----------------------------------------------------------------------------
    def stream(self, utterance: UtteranceLike, history: Dialogue | None = None) -> Iterator[TurnEvent]:
        """Run one turn, yielding events as they happen; the last event carries the :class:`Turn`.

        Closing the iterator before the end (``close()``, leaving a ``for`` loop, dropping it) stops the
        LLM, cancels the sentences not yet synthesised and waits for the one being synthesised, so no
        work of this turn goes on afterwards.
        """
        start = time.perf_counter()

        def now() -> float:
            return time.perf_counter() - start

        perception = self.perceive(utterance)
        yield Perceived(now(), perception=perception)
        if not self.heard_speech(perception):
            yield from self._ask_again(perception, start)
            return
        prompt = self.render_prompt(perception.transcript, perception.emotion, history, perception.events)
        messages = tuple(prompt.messages)
        yield PromptRendered(now(), messages=messages, strategy=prompt.strategy.name, detail=prompt)

        opener = self.opener_for(prompt, history)
        opener_audio, opener_at = None, None
        if opener:  # spoken at once, from audio made ahead of time; the LLM writes the rest after it
            opener_audio = self.opener_audio(opener, prompt.style)
            yield TextPiece(now(), text=opener, opener=True)
            opener_at = now()
            yield SentenceAudio(opener_at, text=opener, audio=opener_audio, opener=True)
        writing = 0.0
        check = GuardCheck(perception.transcript.text, _last_answer(history)) if self.guard is not None else None
        if self.config.run.stream_tts:
            pieces = self.stream_text(prompt, check, opener)
        else:
            t = time.perf_counter()
            rest = self.generate(prompt, check, opener)  # the whole reply, cleaned, spoken in one piece
            pieces = iter([_separated(opener, rest) if opener else rest])
            writing = time.perf_counter() - t
        spoken = yield from speak_as_written(
            pieces,
            lambda sentence: self.speak(sentence, prompt.style),
            self._tts_pool(),
            now,
            fallback=None if opener else FALLBACK_REPLY,
            by_sentence=self.config.run.stream_tts,
            first_clause_words=self.config.run.first_clause_words,
        )
        text, audio, first_audio = spoken.text, spoken.audio, spoken.first_audio
        if opener:
            text = join_reply(opener, spoken.text)
            audio = _joined(opener_audio, spoken.audio)
            first_audio = opener_at
        timings = {
            **({"vad": perception.timings["vad"]} if "vad" in perception.timings else {}),
            "ser": perception.timings.get("ser", 0.0),
            "asr": perception.timings.get("asr", 0.0),
            **({"events": perception.timings["events"]} if "events" in perception.timings else {}),
            "llm": writing + spoken.writing_seconds,
            "tts": spoken.speaking_seconds,
            "total": now(),
            "time_to_first_audio": first_audio if first_audio is not None else now(),
        }
        if opener:
            llm_audio = spoken.first_audio
            timings["time_to_first_llm_audio"] = llm_audio if llm_audio is not None else timings["total"]
        turn = Turn(
            transcript=perception.transcript,
            emotion=perception.emotion,
            prompt=tuple(prompt.messages),
            response=Response(text=text, style=prompt.style, strategy=prompt.strategy.name, opener=opener),
            audio=audio,
            timings=timings,
            system=self.name,
            events=perception.events,
            guard=check.record.to_dict() if check is not None else None,
        )
        yield TurnFinished(now(), turn=turn)

    def _ask_again(self, perception: Perception, start: float) -> Iterator[TurnEvent]:
        """The turn when no speech was heard: :data:`NO_SPEECH_REPLY` in a neutral voice, no LLM call."""
        yield from ask_again(perception, self.speak, lambda: time.perf_counter() - start, self.name)

    def respond(self, utterance: UtteranceLike, history: Dialogue | None = None) -> Turn:
        """Answer one utterance: returns the :class:`Turn` with transcript, emotion, reply, audio and timings.

        Args:
            utterance: An :class:`Utterance`, or anything :func:`emotionlayer.audio.load_audio` accepts.
            history: Earlier turns of the conversation, shown to the prompt template.
        """
        return turn_from_stream(self.stream(utterance, history))


#: Silence kept before an opener's voice, and after it (seconds); see :meth:`CascadePipeline.opener_audio`.
OPENER_LEAD_SECONDS = 0.01
OPENER_TAIL_SECONDS = 0.1


def trim_silence(
    audio: Audio, lead: float = OPENER_LEAD_SECONDS, tail: float = OPENER_TAIL_SECONDS, level: float = 0.02
) -> Audio:
    """``audio`` with its silence before the first and after the last sound cut to ``lead`` and ``tail``
    seconds (a sample counts as sound at ``level`` times the peak or more); unchanged when it is all silence."""
    import numpy as np

    samples = np.asarray(audio.samples)
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    if peak <= 0.0:
        return audio
    loud = np.flatnonzero(np.abs(samples) >= level * peak)
    start = max(0, int(loud[0]) - round(lead * audio.sample_rate))
    end = min(samples.size, int(loud[-1]) + 1 + round(tail * audio.sample_rate))
    return Audio(samples[start:end], audio.sample_rate)


def pick_opener(openers: tuple[str, ...] | list[str], history: Dialogue | None = None) -> str:
    """The opener of the next reply: the n-th of ``openers`` for the n-th answered turn (taking turns); "" if none."""
    if not openers:
        return ""
    answered = sum(1 for turn in history.turns if turn.speech_detected) if history else 0
    return openers[answered % len(openers)]


def _separated(opener: str, continuation: str) -> str:
    """``continuation`` with the space that joins it to ``opener`` in front, where one is needed."""
    joined = join_reply(opener, continuation)
    return joined[len(opener.strip()) :] if continuation.strip() else ""


def _after(opener: str, pieces: Iterator[str]) -> Iterator[str]:
    """The LLM's continuation of ``opener``, its first piece starting with the joining space (if needed)."""
    first = True
    try:
        for piece in pieces:
            if first and piece.strip():
                piece, first = _separated(opener, piece), False
            yield piece
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()


def _joined(first: Audio | None, rest: Audio | None) -> Audio | None:
    """Two stretches of audio one after the other (at the first one's rate)."""
    if first is None or rest is None:
        return first or rest
    import numpy as np

    rate = first.sample_rate
    return Audio(np.concatenate([first.samples, rest.resample(rate).samples]), rate)


def build_pipeline(config: PipelineConfig | str | dict | None = None) -> CascadePipeline:
    """Shorthand for :meth:`CascadePipeline.from_config`."""
    return CascadePipeline.from_config(config)
