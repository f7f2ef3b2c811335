"""Where a live session's audio comes from: files played as a microphone, scripted conversations, the microphone.

Every source is an iterator of 32 ms frames (512 float32 samples at 16 kHz) for
:meth:`LiveSession.run <emotionlayer.live.session.LiveSession.run>` or ``feed``. A file source paces the
frames at real time (``speed=1``) or faster (tests): the session clock counts audio time either way.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..audio import FRAME_SAMPLES, FRAME_SECONDS, SAMPLE_RATE, Audio, AudioSource, load_audio
from ..errors import EmotionLayerError, MissingDependencyError


def frames(audio: Audio | AudioSource) -> Iterator[np.ndarray]:
    """``audio`` (any rate; a path, bytes or an :class:`Audio`) as 16 kHz frames; the last one zero-padded."""
    clip = audio if isinstance(audio, Audio) else load_audio(audio)
    samples = np.asarray(clip.resample(SAMPLE_RATE).samples, dtype=np.float32)
    pad = (-samples.size) % FRAME_SAMPLES
    if pad:
        samples = np.concatenate([samples, np.zeros(pad, dtype=np.float32)])
    yield from samples.reshape(-1, FRAME_SAMPLES)


def silence(seconds: float) -> Iterator[np.ndarray]:
    """Frames of digital silence lasting ``seconds`` (rounded up to whole frames)."""
    for _ in range(int(np.ceil(seconds / FRAME_SECONDS))):
        yield np.zeros(FRAME_SAMPLES, dtype=np.float32)


class Pacer:
    """Sleeps so that frame ``k`` is handed over when it would have been recorded, ``speed`` times faster.

    ``speed=float("inf")`` (or 0) does not wait at all.
    """

    def __init__(self, speed: float = 1.0) -> None:
        self.speed = float(speed) if speed and speed > 0 else float("inf")
        self._start: float | None = None
        self._count = 0

    def wait(self) -> None:
        """Wait for the next frame's time."""
        if self._start is None:
            self._start = time.perf_counter()
        self._count += 1
        if self.speed == float("inf"):
            return
        due = self._start + self._count * FRAME_SECONDS / self.speed
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)


def play_file(path: Audio | AudioSource, speed: float = 1.0, tail_seconds: float = 3.0) -> Iterator[np.ndarray]:
    """A recording played as the microphone: its frames at real time (or ``speed`` times faster), then
    ``tail_seconds`` of silence so the last turn can end and be answered."""
    pacer = Pacer(speed)
    for frame in [*frames(path), *silence(tail_seconds)]:
        pacer.wait()
        yield frame


def open_input(
    path: AudioSource | None = None,
    *,
    speed: float = 1.0,
    seconds: float | None = None,
    max_seconds: float | None = None,
) -> Iterator[np.ndarray]:
    """The frames of a live session: the recording at ``path`` played as the microphone, else the microphone.

    Checks what it can at once (the file loads, ``sounddevice`` is installed), so a bad input is reported
    before any model loads.

    Args:
        path: A recording (WAV/FLAC/OGG/MP3, a path or bytes); ``None``: the microphone.
        speed: Play the recording this many times faster than real time.
        seconds: Stop the microphone after this many seconds (default: never).
        max_seconds: The longest recording accepted (the pipeline config's ``max_seconds``).

    Raises:
        AudioError: the recording cannot be read or is too long.
        MissingDependencyError: the microphone is asked for and ``sounddevice`` (or PortAudio) is missing.
    """
    if path is not None:
        return play_file(load_audio(path, max_seconds=max_seconds), speed=speed)
    require_sounddevice()
    return microphone(max_seconds=seconds)


def fan_out(*sinks: Callable[[np.ndarray], None] | None) -> Callable[[np.ndarray], None]:
    """One output sink that hands every block to each of ``sinks`` in turn (``None`` entries are skipped)."""
    chosen = [sink for sink in sinks if sink is not None]

    def sink(block: np.ndarray) -> None:
        for each in chosen:
            each(block)

    return sink


@dataclass(frozen=True)
class Say:
    """A scripted step: the user says this clip."""

    audio: Audio


@dataclass(frozen=True)
class Quiet:
    """A scripted step: silence (or any non-speech ``audio``) for ``seconds``."""

    seconds: float
    audio: Audio | None = None


@dataclass(frozen=True)
class WaitFor:
    """A scripted step: silence until the session has emitted an event of ``kind`` (counted from the
    start of this step), then ``after_seconds`` more; at most ``timeout_seconds`` of audio time.

    With ``turn``, the event must belong to that turn (1-based) and may have come before this step
    began: e.g. ``WaitFor("turn_done", turn=2)`` after an interruption, whose cut turn may end while the
    interrupting speech is still being played (on a fast machine) or only after it (on a slow one).
    """

    kind: str
    after_seconds: float = 0.0
    timeout_seconds: float = 60.0
    turn: int | None = None


Step = Say | Quiet | WaitFor


def scripted(session: Any, steps: Sequence[Step], speed: float = 1.0) -> Iterator[np.ndarray]:
    """Frames of a scripted conversation: clips, silences and waits for the session's own events.

    A wait (e.g. ``WaitFor("playback_started", 0.8)``: interrupt 0.8 s into the reply) makes a test
    independent of how fast the models are. Feed the frames to the same ``session``.

    Raises:
        EmotionLayerError: a wait timed out (the event never came).
    """
    pacer = Pacer(speed)

    def paced(source: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        for frame in source:
            pacer.wait()
            yield frame

    for step in steps:
        if isinstance(step, Say):
            yield from paced(frames(step.audio))
        elif isinstance(step, Quiet):
            if step.audio is None:
                yield from paced(silence(step.seconds))
            else:
                clip = np.asarray(step.audio.resample(SAMPLE_RATE).samples, dtype=np.float32)
                n = int(np.ceil(step.seconds / FRAME_SECONDS))
                reps = int(np.ceil(n * FRAME_SAMPLES / max(1, clip.size)))
                noise = np.tile(clip, reps)[: n * FRAME_SAMPLES]
                yield from paced(iter(noise.reshape(-1, FRAME_SAMPLES)))
        elif isinstance(step, WaitFor):
            seen = 0 if step.turn is not None else len(session.events)
            waited = 0
            while not any(
                e.kind == step.kind and (step.turn is None or getattr(e, "turn", None) == step.turn)
                for e in session.events[seen:]
            ):
                if waited * FRAME_SECONDS >= step.timeout_seconds:
                    which = f"{step.kind!r} event" + (f" of turn {step.turn}" if step.turn is not None else "")
                    raise EmotionLayerError(f"Scripted conversation: no {which} within {step.timeout_seconds} s.")
                pacer.wait()
                waited += 1
                yield np.zeros(FRAME_SAMPLES, dtype=np.float32)
            yield from paced(silence(step.after_seconds))
        else:
            raise EmotionLayerError(f"Unknown script step {step!r}: use Say, Quiet or WaitFor.")


def require_sounddevice() -> Any:
    """The ``sounddevice`` module.

    Raises:
        MissingDependencyError: it (or the PortAudio library) is not installed; the message says how to fix it.
    """
    try:
        import sounddevice as sd
    except (ImportError, OSError) as exc:  # OSError: PortAudio missing
        raise MissingDependencyError(
            "sounddevice", extra="live", purpose="the microphone and the speaker in a live conversation"
        ) from exc
    return sd


def microphone(device: int | str | None = None, max_seconds: float | None = None) -> Iterator[np.ndarray]:
    """Frames from the microphone (16 kHz mono) as they are recorded; stops after ``max_seconds`` if given.

    Raises:
        MissingDependencyError: ``sounddevice`` (or PortAudio) is not installed.
    """
    sd = require_sounddevice()
    frames_in: queue.Queue = queue.Queue()

    def callback(indata: np.ndarray, count: int, stamp: Any, status: Any) -> None:
        frames_in.put(indata[:, 0].copy())

    limit = None if max_seconds is None else int(max_seconds / FRAME_SECONDS)
    count = 0
    with sd.InputStream(
        samplerate=SAMPLE_RATE, channels=1, dtype="float32", blocksize=FRAME_SAMPLES, device=device, callback=callback
    ):
        while limit is None or count < limit:
            yield frames_in.get()
            count += 1


class SpeakerSink:
    """An output sink that plays the session's blocks on the speaker (``sounddevice``).

    Use headphones: the session has no echo cancellation, so a loudspeaker's reply heard by the microphone
    would interrupt itself.

    Args:
        rate: The session's output rate (``LiveConfig.output_rate``).
        device: The output device (default: the system's).
    """

    def __init__(self, rate: int = 16000, device: int | str | None = None) -> None:
        sd = require_sounddevice()
        self._blocks: queue.Queue = queue.Queue()
        self._rest = np.zeros(0, dtype=np.float32)

        def callback(outdata: np.ndarray, count: int, stamp: Any, status: Any) -> None:
            while self._rest.size < count:
                try:
                    self._rest = np.concatenate([self._rest, self._blocks.get_nowait()])
                except queue.Empty:
                    break
            n = min(count, self._rest.size)
            outdata[:n, 0] = self._rest[:n]
            outdata[n:, 0] = 0.0
            self._rest = self._rest[n:]

        self._stream = sd.OutputStream(samplerate=rate, channels=1, dtype="float32", device=device, callback=callback)
        self._stream.start()

    def __call__(self, block: np.ndarray) -> None:
        self._blocks.put(np.asarray(block, dtype=np.float32))

    def close(self) -> None:
        """Stop the output stream."""
        self._stream.stop()
        self._stream.close()
