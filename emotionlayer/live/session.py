"""A live conversation: audio frames in, events and reply audio out, with end of turn and barge-in.

:class:`LiveSession` is fed the user's audio as 32 ms frames (512 samples at 16 kHz) from any source (a
file played at real time, the microphone, a WebSocket; see :mod:`emotionlayer.live.sources`) and:

1. runs the VAD on every frame and the end-of-turn rule (:class:`~emotionlayer.live.turns.TurnDetector`);
2. while the user speaks, transcribes the growing turn in the background (partial transcripts);
3. at a pause, transcribes the turn at once, and (``speculative``) starts the dialogue system's
   ``stream()`` on it while it waits for the end of the turn: its output is held back until the turn
   ends, and the stream is closed if the user goes on;
4. at the end of the turn, plays the reply sentence by sentence as it is synthesised, through an output
   sink that gets one block of samples per input frame (a full-duplex audio device's rhythm); a reply's
   opener (the cascade's ``run.opener``: audio made ahead of time, ready as soon as the strategy is) plays
   first, and the latency records both the first audio and the first audio the LLM wrote;
5. while the reply plays, speech longer than ``barge_in_min_seconds`` that is not a backchannel
   interrupts it: playback stops, the system's stream is closed, the unspoken rest is dropped from the
   history, and the history tells the next prompt that the reply was cut off.

The session clock is the audio time of the input: a frame fed at index ``k`` ends at ``(k + 1) * 0.032``
seconds, whether it came at real time or faster. Work done in the background (the LLM's first token, a
synthesised sentence) is stamped with the clock interpolated from the last frame by the wall time since
it, times ``speed`` (how much faster than real time the source is fed).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..audio import FRAME_SAMPLES, FRAME_SECONDS, SAMPLE_RATE, Audio
from ..errors import EmotionLayerError
from ..systems.base import DialogueSystem, SentenceAudio, TextPiece
from ..text import chinese_converter
from ..types import Dialogue, EmotionPrediction, Response, Transcript, Turn, Utterance
from .events import (
    Backchannel,
    Discarded,
    EmotionHeard,
    EndOfTurn,
    Interrupted,
    PlaybackStarted,
    ReplyAudio,
    ReplyText,
    SessionEvent,
    SpeechStarted,
    StrategyChosen,
    TranscriptFinal,
    TranscriptPartial,
    TurnDone,
    TurnLatency,
    latency_summary,
)
from .turns import LiveConfig, TurnDetector, is_backchannel, phrase_finished

logger = logging.getLogger(__name__)

#: Put after the spoken part of an interrupted reply in the history, so the next prompt knows.
INTERRUPTED_NOTE = "... (the user interrupted you here)"

Sink = Callable[[np.ndarray], None]


class Playback:
    """The reply audio being played: a queue of sentences, advanced one output block per input frame.

    Args:
        rate: Output sample rate; every sentence is resampled to it.
    """

    def __init__(self, rate: int) -> None:
        self.rate = int(rate)
        self._emitted = 0  # output samples emitted in total (for fractional block sizes)
        self._frames = 0
        self.clear()

    def clear(self) -> None:
        """Forget every sentence (nothing plays)."""
        self.sentences: list[tuple[str, np.ndarray]] = []
        self.openers: list[bool] = []  # per sentence: whether it is the reply's opener
        self.index = 0  # sentence being played
        self.offset = 0  # samples of it played
        self.paused = False
        self.played_samples = 0

    def add(self, text: str, audio: Audio, opener: bool = False) -> None:
        """Queue one sentence (``opener``: the reply's opener, not written by the LLM)."""
        self.sentences.append((text, np.asarray(audio.resample(self.rate).samples, dtype=np.float32)))
        self.openers.append(bool(opener))

    def llm_started(self) -> bool:
        """Whether a sentence written by the LLM (not an opener) has started playing."""
        first = next((i for i, opener in enumerate(self.openers) if not opener), None)
        return first is not None and (self.index > first or (self.index == first and self.offset > 0))

    @property
    def pending(self) -> bool:
        """Whether anything is left to play."""
        return self.index < len(self.sentences)

    def next_block(self) -> tuple[np.ndarray, bool]:
        """The next output block (one input frame long) and whether it holds reply audio."""
        self._frames += 1
        target = round(self._frames * FRAME_SECONDS * self.rate)
        n = target - self._emitted
        self._emitted = target
        block = np.zeros(n, dtype=np.float32)
        if self.paused or not self.pending:
            return block, False
        filled = 0
        while filled < n and self.pending:
            samples = self.sentences[self.index][1]
            take = min(n - filled, samples.size - self.offset)
            block[filled : filled + take] = samples[self.offset : self.offset + take]
            filled += take
            self.offset += take
            if self.offset >= samples.size:
                self.index += 1
                self.offset = 0
        self.played_samples += filled
        return block, filled > 0

    def heard(self) -> tuple[list[str], list[str]]:
        """The sentences that started playing (heard, at least in part) and the ones that did not."""
        started = self.index + (1 if self.offset > 0 else 0)
        texts = [text for text, _ in self.sentences]
        return texts[:started], texts[started:]


class _Reply:
    """One run of the system's ``stream()`` on a background thread; its events go to a queue."""

    def __init__(
        self, system: DialogueSystem, utterance: Utterance, history: Dialogue, clock: Callable[[], float]
    ) -> None:
        self.events: queue.SimpleQueue = queue.SimpleQueue()
        self.cancelled = threading.Event()
        self.done = False
        self._system, self._utterance, self._history, self._clock = system, utterance, history, clock
        self.thread = threading.Thread(target=self._run, name="emotionlayer-live-reply", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        stream = self._system.stream(self._utterance, self._history)
        try:
            for event in stream:
                if self.cancelled.is_set():
                    break
                self.events.put((self._clock(), event))
        except Exception as exc:  # reported on the session's thread
            self.events.put((self._clock(), exc))
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
            self.events.put((self._clock(), None))

    def cancel(self) -> None:
        """Stop at the next event: the stream is closed, which stops its LLM and TTS."""
        self.cancelled.set()


@dataclass
class _UserTurn:
    """What the session knows about the user turn being heard or answered."""

    index: int
    speech_start: float
    frames: list[np.ndarray] = field(default_factory=list)
    frames_start: float = 0.0  # session time at the start of the first frame kept
    speech_end: float | None = None
    end_of_turn: float | None = None
    transcript: Transcript | None = None
    transcript_frames: int = 0  # how many frames the transcript covers
    asr_final: float | None = None
    perception: Any = None
    strategy: str = ""
    first_token: float | None = None
    first_sentence: float | None = None
    first_audio: float | None = None
    first_llm_audio: float | None = None
    opener: str = ""  # the reply's opener, when it has one
    latency_sent: bool = False
    reply: _Reply | None = None
    committed: bool = False
    held: list[tuple[float, Any]] = field(default_factory=list)
    record: Turn | None = None
    reply_text: str = ""
    stream_done: bool = False


class LiveSession:
    """Hold a spoken conversation with any dialogue system, frame by frame.

    Args:
        system: The dialogue system that answers (anything with ``stream(utterance, history)``); default:
            the one ``pipeline_config`` names (the cascade).
        config: The live thresholds (:class:`~emotionlayer.live.turns.LiveConfig`).
        pipeline_config: The pipeline config (a :class:`~emotionlayer.config.PipelineConfig`, path, dict or
            ``None``) the system and the ASR are built from when not given.
        asr: The speech recogniser for partial and final transcripts; default: the system's own ``asr``, else
            the config's.
        vad: The VAD; default: ``config.vad`` (silero).
        sink: Called with every output block (float32 at ``config.output_rate``, one per input frame;
            zeros when nothing plays).
        on_event: Called with every :class:`~emotionlayer.live.events.SessionEvent` as it happens.
        speed: How much faster than real time frames are fed (1 for a microphone); scales background stamps.
        pass_transcript: Give the system the session's transcript with the audio, so it does not transcribe
            again (``None``: yes for systems that have an ``asr`` and ``perceive``, such as the cascade).

    The session's own transcripts follow the pipeline config's ``run`` section (the system's config when it
    has one): ``language`` is passed to the ASR, and with ``chinese_script`` the transcripts are written in
    that script (Simplified or Traditional), as the cascade writes its own.
    """

    def __init__(
        self,
        system: DialogueSystem | None = None,
        config: LiveConfig | None = None,
        *,
        pipeline_config: Any = None,
        asr: Any = None,
        vad: Any = None,
        sink: Sink | None = None,
        on_event: Callable[[SessionEvent], None] | None = None,
        speed: float = 1.0,
        pass_transcript: bool | None = None,
    ) -> None:
        from .. import registry
        from ..config import PipelineConfig

        self.config = config or LiveConfig()
        if system is None or asr is None:
            pcfg = PipelineConfig.coerce(pipeline_config)
            if system is None:
                from ..systems import build_system

                system = build_system(pcfg)
            if asr is None:
                asr = getattr(system, "asr", None) or registry.create("asr", pcfg.asr.backend, **pcfg.asr.params)
        self.system = system
        self.asr = asr
        run = getattr(getattr(system, "config", None), "run", None)
        if run is None:
            run = PipelineConfig.coerce(pipeline_config).run
        self._language = run.language
        self._script = chinese_converter(run.chinese_script)
        self.vad = vad if vad is not None else registry.create("vad", self.config.vad, threshold=self.config.threshold)
        self.sink = sink
        self.on_event = on_event
        self.speed = float(speed) if speed and speed > 0 else 1.0
        if pass_transcript is None:
            pass_transcript = hasattr(system, "asr") and hasattr(system, "perceive")
        self.pass_transcript = bool(pass_transcript)

        self.history = Dialogue()
        self.latencies: list[TurnLatency] = []
        self.events: list[SessionEvent] = []
        self.interruptions: list[Interrupted] = []
        self.backchannels: list[Backchannel] = []
        self.playback = Playback(self.config.output_rate)
        self.detector = TurnDetector(self.config)
        self._vad_stream = self.vad.stream()
        self._asr_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="emotionlayer-live-asr")
        keep = (self.config.pre_roll_seconds + self.config.min_speech_seconds) / FRAME_SECONDS
        self._pre_roll: deque[np.ndarray] = deque(maxlen=max(1, round(keep) + 1))
        self._frame_index = 0
        self._time = 0.0
        self._wall = time.perf_counter()
        self._turns = 0
        self._user: _UserTurn | None = None  # the turn being heard
        self._answering: _UserTurn | None = None  # the turn being answered (reply generating or playing)
        self._partial_job: tuple[Future, int] | None = None
        self._partial_at = 0.0
        self._final_job: tuple[Future, int] | None = None
        self._barge: dict[str, Any] | None = None  # speech heard during the reply
        self._closed = False

    # -- clock ----------------------------------------------------------------------------------
    @property
    def time(self) -> float:
        """The session clock at the last frame: seconds of audio fed so far."""
        return self._time

    def now(self) -> float:
        """The session clock now: the last frame's end plus the wall time since it (times ``speed``)."""
        return self._time + min((time.perf_counter() - self._wall) * self.speed, 10.0)

    @property
    def replying(self) -> bool:
        """Whether a reply is being generated or played."""
        return self._answering is not None

    def warmup(self) -> None:
        """Load every model now (the system's, the ASR and the VAD), and have the system evaluate the
        start of each of its prompts (``prime_prompts()``, where it has one: the cascade's empathy
        strategies), so that a turn's first token does not wait for a prompt it could have cached."""
        for part in (self.system, self.asr, self.vad):
            warm = getattr(part, "warmup", None)
            if callable(warm):
                warm()
        prime = getattr(self.system, "prime_prompts", None)
        if callable(prime):
            prime()

    # -- input ----------------------------------------------------------------------------------
    def run(self, frames: Iterable[np.ndarray]) -> Iterator[SessionEvent]:
        """Feed every frame and yield the events as they happen."""
        for frame in frames:
            yield from self.feed(frame)

    def converse(self, frames: Iterable[np.ndarray], max_seconds: float = 60.0) -> Iterator[SessionEvent]:
        """A whole conversation: :meth:`run` on every frame, then :meth:`finish` the last reply."""
        yield from self.run(frames)
        yield from self.finish(max_seconds)

    def feed(self, frame: np.ndarray) -> list[SessionEvent]:
        """Take one frame of the user's audio (512 float samples at 16 kHz); return the events it caused."""
        if self._closed:
            raise EmotionLayerError("This live session is closed; start a new one.")
        samples = np.asarray(frame, dtype=np.float32).reshape(-1)
        if samples.size != FRAME_SAMPLES:
            raise EmotionLayerError(
                f"A live session takes frames of {FRAME_SAMPLES} samples at {SAMPLE_RATE} Hz (32 ms); got "
                f"{samples.size}. Cut the audio with emotionlayer.live.sources.frames()."
            )
        out: list[SessionEvent] = []
        start = self._time
        self._frame_index += 1
        self._time = end = self._frame_index * FRAME_SECONDS
        self._wall = time.perf_counter()

        probability = float(self._vad_stream.process(samples))
        self._pre_roll.append(samples)
        heard = self._user if self._user is not None else (self._barge["turn"] if self._barge else None)
        if heard is not None and self.detector.state != "idle":
            heard.frames.append(samples)
        for what in self.detector.update(probability, start, end):
            getattr(self, f"_on_{what}")(out)
        self._poll_asr(out)
        self._schedule_asr()
        self._poll_reply(out)
        self._play(out)
        for event in out:
            self.events.append(event)
            if self.on_event is not None:
                self.on_event(event)
        return out

    def finish(self, max_seconds: float = 60.0) -> list[SessionEvent]:
        """Feed silence until the conversation is quiet (no reply pending or playing); return its events."""
        out: list[SessionEvent] = []
        silence = np.zeros(FRAME_SAMPLES, dtype=np.float32)
        limit = self._time + max_seconds
        while (self.busy) and self._time < limit:
            out += self.feed(silence)
            time.sleep(FRAME_SECONDS / self.speed)
        return out

    @property
    def busy(self) -> bool:
        """Whether a turn is being heard, decided or answered."""
        return (
            self._user is not None
            or self._answering is not None
            or self._barge is not None
            or self.detector.state != "idle"
        )

    def close(self) -> None:
        """Stop any reply and free the worker threads."""
        if self._answering is not None and self._answering.reply is not None:
            self._answering.reply.cancel()
        if self._user is not None and self._user.reply is not None:
            self._user.reply.cancel()
        self._asr_pool.shutdown(wait=False, cancel_futures=True)
        self._closed = True

    def __enter__(self) -> LiveSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- statistics -----------------------------------------------------------------------------
    def latency_summary(self) -> dict[str, dict[str, float]]:
        """p50 and p90 over the session's turns of seconds from the end of speech to each moment."""
        return latency_summary(self.latencies)

    # -- detector events --------------------------------------------------------------------------
    def _on_speech_start(self, out: list[SessionEvent]) -> None:
        start = self.detector.speech_start if self.detector.speech_start is not None else self._time
        frames = list(self._pre_roll)
        frames_start = self._time - len(frames) * FRAME_SECONDS
        if self._barge is not None:
            self._barge["ended"] = False  # more of the same speech, after a pause
            return
        if self._answering is not None and self.config.barge_in:
            # Speech during the reply: a backchannel, a noise, or an interruption.
            turn = _UserTurn(self._turns + 1, start, frames, frames_start)
            self._barge = {
                "turn": turn,
                "detected": self._time,
                "paused_at": None,
                "job": None,
                "text": None,
                "ended": False,
            }
            if self.config.pause_on_speech:  # also holds back a reply that has not started playing yet
                self.playback.paused = True
                self._barge["paused_at"] = self._time
            return
        if self._answering is not None:
            return  # barge-in off: speech during the reply is not listened to
        self._turns += 1
        self._user = _UserTurn(self._turns, start, frames, frames_start)
        self._partial_at = self._time
        out.append(SpeechStarted(self._time, self._turns, start))

    def _on_pause(self, out: list[SessionEvent]) -> None:
        if self._barge is not None:
            barge = self._barge
            barge["ended"] = True
            duration = (self.detector.last_voiced or self._time) - barge["turn"].speech_start
            if duration < self.config.barge_in_min_seconds:
                self._resume_after("", out)  # too short to be anything but a noise
            elif barge["job"] is None or barge["job"][2] < (self.detector.last_voiced or 0.0):
                self._submit_barge_asr()
            return
        user = self._user
        if user is None:
            return
        user.speech_end = self.detector.last_voiced
        self._cancel_speculation(user)
        self._final_job = (self._asr_pool.submit(self._transcribe, self._turn_audio(user)), len(user.frames))

    def _on_resume(self, out: list[SessionEvent]) -> None:
        if self._barge is not None:
            self._barge["ended"] = False
            return
        if self._user is not None:
            self._user.speech_end = None
            self._final_job = None
            self._cancel_speculation(self._user)

    def _on_end_of_turn(self, out: list[SessionEvent]) -> None:
        if self._barge is not None:
            return  # decided when its transcript comes (_poll_asr)
        user = self._user
        if user is None:
            return
        user.end_of_turn = self._time
        finished = phrase_finished(self.detector.transcript or "")
        silence = self._time - (user.speech_end or self._time)
        out.append(EndOfTurn(self._time, user.index, user.speech_end or self._time, finished, silence))
        self._user = None
        self._answering = user
        if user.transcript is not None:  # transcribed at this pause (a resume forgets it)
            self._commit(user, out)
        # else: the final transcript is on its way; _poll_asr commits when it comes.

    # -- ASR --------------------------------------------------------------------------------------
    def _transcribe(self, audio: Audio) -> tuple[Transcript, float]:
        if self._language is not None:
            transcript = self.asr.transcribe(audio, language=self._language)
        else:
            transcript = self.asr.transcribe(audio)
        if self._script is not None:
            transcript = replace(transcript, text=self._script(transcript.text))
        return transcript, self.now()

    def _turn_audio(self, user: _UserTurn, upto: int | None = None) -> Audio:
        frames = user.frames[:upto] if upto is not None else user.frames
        return Audio(np.concatenate(frames) if frames else np.zeros(FRAME_SAMPLES, np.float32), SAMPLE_RATE)

    def _frames_to_speech_end(self, user: _UserTurn) -> int:
        """How many of the turn's frames reach the end of its speech (plus the tail)."""
        if user.speech_end is None:
            return len(user.frames)
        wanted = round((user.speech_end + self.config.tail_seconds - user.frames_start) / FRAME_SECONDS)
        return max(1, min(len(user.frames), wanted))

    def _schedule_asr(self) -> None:
        if self._barge is not None:
            barge = self._barge
            long_enough = self._time - barge["turn"].speech_start >= self.config.barge_in_min_seconds
            if long_enough and (barge["job"] is None or barge["job"][0].done()) and barge["text"] is None:
                self._submit_barge_asr()
            return
        user = self._user
        if user is None or self.detector.state != "speech":
            return
        interval = self.config.partial_interval_seconds
        if interval > 0 and self._partial_job is None and self._time - self._partial_at >= interval:
            self._partial_at = self._time
            self._partial_job = (self._asr_pool.submit(self._transcribe, self._turn_audio(user)), user.index)

    def _submit_barge_asr(self) -> None:
        assert self._barge is not None
        turn = self._barge["turn"]
        job = self._asr_pool.submit(self._transcribe, self._turn_audio(turn))
        self._barge["job"] = (job, len(turn.frames), self._time)
        self._barge["text"] = None

    def _poll_asr(self, out: list[SessionEvent]) -> None:
        if self._partial_job is not None and self._partial_job[0].done():
            future, index = self._partial_job
            self._partial_job = None
            if self._user is not None and self._user.index == index and future.exception() is None:
                transcript, _ = future.result()
                if transcript.text.strip():
                    out.append(TranscriptPartial(self._time, index, transcript.text))
        if self._final_job is not None and self._final_job[0].done():
            future, covered = self._final_job
            self._final_job = None
            user = self._user if self._user is not None else self._answering
            if user is not None and user.transcript is None:
                transcript, stamp = future.result()
                user.transcript, user.transcript_frames, user.asr_final = transcript, covered, stamp
                if self._user is user:  # still waiting for the end of the turn
                    self.detector.set_transcript(transcript.text)
                    if transcript.text.strip():
                        out.append(TranscriptPartial(self._time, user.index, transcript.text))
                    if self.config.speculative and self._usable(transcript):
                        self._start_reply(user)
                else:
                    self._commit(user, out)
        if self._barge is not None and self._barge["job"] is not None and self._barge["job"][0].done():
            self._decide_barge(out)

    def _usable(self, transcript: Transcript) -> bool:
        if not transcript.text.strip():
            return False
        return transcript.no_speech_prob is None or transcript.no_speech_prob < self.config.no_speech_threshold

    # -- barge-in ---------------------------------------------------------------------------------
    def _decide_barge(self, out: list[SessionEvent]) -> None:
        barge = self._barge
        assert barge is not None
        future, covered, submitted = barge["job"]
        transcript, _ = future.result()
        barge["text"] = transcript.text
        if not is_backchannel(transcript.text) and self._usable(transcript):
            self._interrupt(transcript, covered, out)
        elif barge["ended"] and submitted >= (self.detector.last_voiced or 0.0):  # it heard all of the speech
            self._resume_after(transcript.text, out)
        else:
            barge["job"] = None
            barge["text"] = None  # still speaking: look again at more of it

    def _resume_after(self, text: str, out: list[SessionEvent]) -> None:
        barge = self._barge
        assert barge is not None and self._answering is not None
        paused = self._time - barge["paused_at"] if barge["paused_at"] is not None else 0.0
        self.playback.paused = False
        event = Backchannel(self._time, self._answering.index, text, paused)
        self.backchannels.append(event)
        out.append(event)
        self._barge = None
        self.detector.reset()

    def _interrupt(self, transcript: Transcript, covered: int, out: list[SessionEvent]) -> None:
        barge = self._barge
        answering = self._answering
        assert barge is not None and answering is not None
        stopped = barge["paused_at"] if barge["paused_at"] is not None else self._time
        if answering.reply is not None:
            answering.reply.cancel()
        spoken, dropped = self.playback.heard()
        self.playback.clear()
        event = Interrupted(
            self._time,
            answering.index,
            " ".join(spoken),
            " ".join(dropped),
            transcript.text,
            stopped - barge["detected"],
            self._time - barge["detected"],
        )
        self.interruptions.append(event)
        out.append(event)
        self._finish_turn(answering, out, interrupted=" ".join(spoken))
        # The interruption is the start of the user's next turn.
        self._barge = None
        user = barge["turn"]
        self._turns += 1
        user.index = self._turns
        self._user = user
        self._partial_at = self._time
        out.append(SpeechStarted(self._time, user.index, user.speech_start))
        out.append(TranscriptPartial(self._time, user.index, transcript.text))
        if self.detector.state == "pause":
            user.speech_end = self.detector.last_voiced
            user.transcript, user.transcript_frames, user.asr_final = transcript, covered, self._time
            self.detector.set_transcript(transcript.text)
            if self.config.speculative:
                self._start_reply(user)
        elif self.detector.state == "idle":  # the speech already ended long enough ago: the turn is over
            user.speech_end = self.detector.last_voiced or self._time
            user.transcript, user.transcript_frames, user.asr_final = transcript, len(user.frames), self._time
            self._on_end_of_turn(out)

    # -- the reply --------------------------------------------------------------------------------
    def _utterance(self, user: _UserTurn) -> Utterance:
        audio = self._turn_audio(user, self._frames_to_speech_end(user))
        text = user.transcript.text if (self.pass_transcript and user.transcript is not None) else None
        return Utterance(audio=audio, text=text or None)

    def _start_reply(self, user: _UserTurn) -> None:
        user.reply = _Reply(self.system, self._utterance(user), self.history, self.now)
        user.held = []

    def _cancel_speculation(self, user: _UserTurn) -> None:
        if user.reply is not None and not user.committed:
            user.reply.cancel()
            user.reply = None
            user.held = []
        user.transcript = None
        user.first_token = user.first_sentence = None

    def _commit(self, user: _UserTurn, out: list[SessionEvent]) -> None:
        """The turn is over and its transcript known: answer it (or drop it if no words were heard)."""
        assert user.transcript is not None
        if not self._usable(user.transcript):
            why = (
                "no words recognised"
                if not user.transcript.text.strip()
                else f"no-speech probability {user.transcript.no_speech_prob:.2f}"
            )
            out.append(Discarded(self._time, user.index, why))
            if user.reply is not None:
                user.reply.cancel()
            self._answering = None
            return
        out.append(TranscriptFinal(self._time, user.index, user.transcript.text, user.transcript.model))
        if user.reply is None:
            self._start_reply(user)
        user.committed = True
        held, user.held = user.held, []
        for stamp, event in held:
            self._handle_reply_event(user, stamp, event, out)

    def _poll_reply(self, out: list[SessionEvent]) -> None:
        for user in (self._user, self._answering):
            if user is None or user.reply is None:
                continue
            while True:
                try:
                    stamp, event = user.reply.events.get_nowait()
                except queue.Empty:
                    break
                if user.committed:
                    self._handle_reply_event(user, stamp, event, out)
                else:
                    user.held.append((stamp, event))
                    if isinstance(event, TextPiece) and not event.opener and user.first_token is None:
                        user.first_token = stamp
                    if isinstance(event, SentenceAudio) and user.first_sentence is None:
                        user.first_sentence = stamp

    def _handle_reply_event(self, user: _UserTurn, stamp: float, event: Any, out: list[SessionEvent]) -> None:
        if user is not self._answering:
            return
        if isinstance(event, Exception):
            self._answering = None
            raise EmotionLayerError(
                f"The dialogue system failed during a live turn: {type(event).__name__}: {event}"
            ) from event
        if event is None:
            user.stream_done = True
            return
        kind = event.kind
        if kind == "perceived" and event.perception is not None:
            user.perception = event.perception
            emo = event.perception.emotion
            out.append(EmotionHeard(self._time, user.index, emo.label, dict(emo.probabilities), emo.model))
        elif kind == "prompt":
            user.strategy = event.strategy
            if event.strategy:
                out.append(StrategyChosen(self._time, user.index, event.strategy))
        elif kind == "text":
            opener = bool(getattr(event, "opener", False))
            if not opener and user.first_token is None:
                user.first_token = stamp
            user.reply_text += event.text
            out.append(ReplyText(self._time, user.index, event.text, opener))
        elif kind == "audio" and event.audio is not None:
            opener = bool(getattr(event, "opener", False))
            if opener:
                user.opener = event.text
            user.first_sentence = user.first_sentence if user.first_sentence is not None else stamp
            self.playback.add(event.text, event.audio, opener)
            out.append(ReplyAudio(self._time, user.index, event.text, event.audio, opener))
        elif kind == "turn" and event.turn is not None:
            user.record = event.turn

    def _play(self, out: list[SessionEvent]) -> None:
        block, playing = self.playback.next_block()
        if self.sink is not None:
            self.sink(block)
        user = self._answering
        if user is None:
            return
        if playing and user.first_audio is None:
            # The block goes out at the end of this frame: that is when its first sample is heard.
            user.first_audio = self._time
            out.append(PlaybackStarted(self._time, user.index))
        if user.first_llm_audio is None and self.playback.llm_started():
            user.first_llm_audio = self._time
        if user.first_audio is not None and (user.first_llm_audio is not None or not user.opener):
            self._latency(user, out)
        if user.stream_done and not self.playback.pending and self._barge is None:
            self._finish_turn(user, out)

    def _latency(self, user: _UserTurn, out: list[SessionEvent]) -> None:
        """Report the turn's latency once: when the first audio the LLM wrote starts playing (with an opener,
        after it), or when the turn ends without it."""
        if user.latency_sent:
            return
        user.latency_sent = True
        first_llm_audio = user.first_llm_audio if user.opener else user.first_audio
        latency = TurnLatency(
            self._time,
            user.index,
            user.speech_end,
            user.end_of_turn,
            user.asr_final,
            user.first_token,
            user.first_sentence,
            user.first_audio,
            first_llm_audio,
        )
        self.latencies.append(latency)
        out.append(latency)

    def _finish_turn(self, user: _UserTurn, out: list[SessionEvent], interrupted: str | None = None) -> None:
        """Put the answered turn into the history (cut where the user interrupted it) and listen again."""
        if user.first_audio is not None:
            self._latency(user, out)  # an opener whose LLM words never played (interrupted, or none written)
        transcript = user.transcript or Transcript("")
        if user.record is not None:
            record = replace(user.record, transcript=transcript)
        else:
            emotion = (
                user.perception.emotion
                if user.perception is not None
                else EmotionPrediction.certain("neutral", model="unknown")
            )
            record = Turn(
                transcript=transcript,
                emotion=emotion,
                response=Response(user.reply_text.strip(), strategy=user.strategy, opener=user.opener),
                system=getattr(self.system, "name", ""),
            )
        if interrupted is not None:
            said = interrupted.strip()
            record = replace(
                record,
                response=replace(record.response, text=(said + " " if said else "") + INTERRUPTED_NOTE),
                audio=None,
            )
        self.history = self.history.add(record)
        out.append(TurnDone(self._time, user.index, record, interrupted is not None))
        self._answering = None
        self.playback.clear()
