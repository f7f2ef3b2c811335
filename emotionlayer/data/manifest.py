"""Manifests: CSV or JSONL files that list audio files and what is known about them.

Three kinds of manifest share one parser (CSV, TSV or JSONL; paths relative to the manifest's folder;
errors that name the line), each read into its own typed rows:

- clip manifests (:func:`read_manifest` -> :class:`ManifestRow`), for SER and ASR training and evaluation;
- the ``manifest.jsonl`` of a generated dialogue dataset (:func:`read_dialogue_manifest` ->
  :class:`DialogueRow`, the fields :data:`DIALOGUE_FIELDS`);
- event manifests (:func:`read_event_manifest` -> :class:`EventRow`): recordings with a clip-level event
  label (``path,label[,speaker]``) or timed ``events``, for training and evaluating the event detector.

Clip manifest columns (CSV header or JSONL keys):

=============  ========  ==============================================================================
column         required  meaning
=============  ========  ==============================================================================
``path``       yes       audio file, relative to the manifest's folder or absolute
``emotion``    for SER   emotion label; aliases are accepted (``cheerful`` -> ``happy``)
``speaker``    no        speaker id (used to validate by leaving speakers out)
``text``       no        what is said
``language``   no        ISO 639-1 code
``split``      no        ``train``, ``dev`` or ``test``: which part of a dataset the row is in
``corpus``     no        the corpus the clip comes from (``RAVDESS``...)
``reply``      no        a reply to the clip to train on (``response`` is read the same way)
``reference``  no        one reference reply to score a dialogue system's reply against
``references`` no        several reference replies: a JSON list of strings or of :class:`Reference`
                         objects (``{"text": ..., "emotion": ..., "writer": {...}}``)
=============  ========  ==============================================================================

Other columns are kept in :attr:`ManifestRow.extra`. Example CSV::

    path,emotion,speaker,text,language
    clips/0001.wav,happy,spk1,Kids are talking by the door,en
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Union

from ..errors import ConfigError, EmotionLayerError
from ..files import write_text_atomic
from ..labels import canonical
from ..types import Audio, SpeakingStyle, Utterance, VocalEvent

PathLike = Union[str, os.PathLike]

#: Column names accepted for the standard fields (first is the canonical name).
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "path": ("path", "audio", "audio_path", "file", "filename", "wav"),
    "emotion": ("emotion", "label", "emo"),
    "speaker": ("speaker", "speaker_id", "spk"),
    "text": ("text", "transcript", "sentence"),
    "language": ("language", "lang"),
    "split": ("split",),
    "corpus": ("corpus",),
    "reply": ("reply", "response"),
    "reference": ("reference",),
    "references": ("references",),
}


class ManifestError(ConfigError):
    """A manifest that cannot be read, or a row in it that is not valid."""


@dataclass(frozen=True)
class Reference:
    """One reference reply of a clip: what a good answer says, and who wrote it.

    Attributes:
        text: The reply.
        emotion: The emotion the reply is to be said with (a public benchmark's "reply emotion"), if known.
        writer: Where the reply came from (system, template, model file hash, decoding, seed...), if known.
    """

    text: str
    emotion: str | None = None
    writer: Mapping[str, Any] | None = field(default=None, compare=False, hash=False)

    def to_dict(self) -> dict[str, Any]:
        """``{"text", "emotion", "writer"}`` without the keys that are empty."""
        out: dict[str, Any] = {"text": self.text}
        if self.emotion:
            out["emotion"] = self.emotion
        if self.writer:
            out["writer"] = dict(self.writer)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | str) -> Reference:
        """A reference from its dict, or from a bare string (the reply alone).

        Raises:
            ValueError: no ``text``, or an emotion label that is not known.
        """
        if isinstance(data, str):
            data = {"text": data}
        text = str(data.get("text") or "").strip()
        if not text:
            raise ValueError(f"a reference needs a non-empty 'text', got {dict(data)!r}")
        emotion = _clean(data.get("emotion"))
        writer = data.get("writer")
        return cls(text=text, emotion=canonical(emotion) if emotion else None, writer=dict(writer) if writer else None)


def parse_references(value: Any) -> tuple[Reference, ...]:
    """A ``references`` cell as references: a list (JSONL) or its JSON text (CSV) of strings or objects.

    Raises:
        ValueError: the cell is not a JSON list of strings or ``{"text": ...}`` objects.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return ()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f'\'references\' is not JSON ({exc.msg}); write a JSON list such as ["Reply one.", "Reply two."]'
            ) from None
    if not isinstance(value, list):
        raise ValueError(f"'references' must be a JSON list of replies, got a {type(value).__name__}")
    try:
        return tuple(Reference.from_dict(item) for item in value)
    except (AttributeError, TypeError):
        raise ValueError("each item of 'references' must be a string or an object with a 'text' key") from None


#: The typed fields of :class:`ManifestRow` besides ``path``, in the order they are written.
_ROW_FIELDS: tuple[str, ...] = ("emotion", "speaker", "text", "language", "split", "corpus", "reply", "reference")


@dataclass(frozen=True)
class ManifestRow:
    """One clip of a manifest.

    Attributes:
        path: Absolute path of the audio file.
        emotion: Canonical emotion label, if given.
        speaker: Speaker id, if given.
        text: What is said, if given.
        language: Language code, if given.
        split: ``train``, ``dev``, ``test``..., if given.
        corpus: The corpus the clip comes from, if given.
        reply: A reply to train on (column ``reply`` or ``response``), if given.
        reference: One reference reply (column ``reference``), if given.
        references: Reference replies (column ``references``); see :attr:`reference_set` for all of them.
        extra: Every other column, as strings (CSV) or JSON values (JSONL).
        line: Line number in the manifest (for error messages; not compared).
    """

    path: str
    emotion: str | None = None
    speaker: str | None = None
    text: str | None = None
    language: str | None = None
    split: str | None = None
    corpus: str | None = None
    reply: str | None = None
    reference: str | None = None
    references: tuple[Reference, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    line: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        # A typed column passed in ``extra`` (older callers) moves to its field.
        moved = {k: v for k, v in self.extra.items() if k in _ROW_FIELDS or k == "references"}
        if moved:
            object.__setattr__(self, "extra", {k: v for k, v in self.extra.items() if k not in moved})
            for name, value in moved.items():
                if name == "references" and not self.references:
                    object.__setattr__(self, "references", parse_references(value))
                elif name != "references" and getattr(self, name) is None:
                    object.__setattr__(self, name, _clean(value))

    @property
    def reference_set(self) -> tuple[Reference, ...]:
        """Every reference reply of the row: ``references``, else the single ``reference``, else none."""
        if self.references:
            return self.references
        return (Reference(self.reference),) if self.reference else ()

    def load_audio(self, sample_rate: int | None = 16000, max_seconds: float | None = None) -> Audio:
        """Load this row's audio (validated, mono, resampled to ``sample_rate``)."""
        from ..audio import load_audio

        return load_audio(self.path, sample_rate, max_seconds=max_seconds)

    def to_utterance(self, sample_rate: int | None = 16000) -> Utterance:
        """This row as an :class:`Utterance` with its audio loaded."""
        return Utterance(
            audio=self.load_audio(sample_rate),
            text=self.text,
            emotion=self.emotion,
            id=Path(self.path).stem,
            speaker=self.speaker,
            language=self.language,
        )

    def to_dict(self) -> dict[str, Any]:
        """The manifest line: ``path``, the typed fields (``references`` as a list of objects, left out when
        there are none), then the extra columns."""
        out: dict[str, Any] = {"path": self.path}
        out.update({name: getattr(self, name) for name in _ROW_FIELDS})
        if self.references:
            out["references"] = [r.to_dict() for r in self.references]
        out.update(self.extra)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], line: int = 0) -> ManifestRow:
        """A row from a manifest line as written by :meth:`to_dict` (keys as in :data:`COLUMN_ALIASES`).

        The path is taken as written; labels are made canonical; unknown keys go to ``extra``.

        Raises:
            KeyError: no ``path``.
            ValueError: an unknown emotion label or unreadable ``references``.
        """
        standard, extra = _normalise_keys(dict(data))
        raw_path = _clean(standard.get("path"))
        if raw_path is None:
            raise KeyError("path")
        emotion = _clean(standard.get("emotion"))
        try:
            emotion = canonical(emotion) if emotion is not None else None
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return cls(
            path=raw_path,
            emotion=emotion,
            **{name: _clean(standard.get(name)) for name in _ROW_FIELDS if name != "emotion"},
            references=parse_references(standard.get("references")),
            extra=extra,
            line=line,
        )


def _clean(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _resolve(raw: str, base: Path) -> Path:
    """An audio path from a manifest: absolute as written, else relative to the manifest's folder ``base``."""
    audio_path = Path(raw).expanduser()
    return audio_path if audio_path.is_absolute() else base / audio_path


def _check_found(manifest: Path, missing: Sequence[str]) -> None:
    """Raise if any audio file of a manifest is missing (``missing``: ``line N: PATH`` for each)."""
    if missing:
        shown = "; ".join(missing[:3]) + (f"; and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise ManifestError(
            f"{manifest}: {len(missing)} audio file(s) not found ({shown}). "
            "Paths are relative to the manifest's folder."
        )


def _rows_from_file(
    path: Path,
    json_example: str = '{"path": "a.wav", "emotion": "happy"}',
    csv_header: str = "path,emotion,speaker",
) -> Iterable[tuple[int, dict[str, Any]]]:
    """``(line number, record)`` for every row of a CSV, TSV or JSONL file; the hints go into error messages."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ManifestError(
                        f"{path} line {number} is not valid JSON ({exc.msg}). A JSONL manifest has one JSON object "
                        f"per line, e.g. {json_example}."
                    ) from exc
                if not isinstance(record, dict):
                    raise ManifestError(f"{path} line {number} is a JSON {type(record).__name__}, not an object.")
                yield number, record
    elif suffix in (".csv", ".tsv"):
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle, delimiter="\t" if suffix == ".tsv" else ",")
            if not reader.fieldnames:
                raise ManifestError(f"{path} is empty. A CSV manifest needs a header line such as: {csv_header}")
            for number, record in enumerate(reader, start=2):
                if None in record:
                    raise ManifestError(
                        f"{path} line {number} has more fields than the header. Quote values that contain commas."
                    )
                yield number, record
    else:
        raise ManifestError(f"{path}: unknown manifest format {suffix!r}. Use a .csv, .tsv or .jsonl file.")


def _normalise_keys(record: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    lowered = {str(k).strip().lower(): v for k, v in record.items()}
    standard: dict[str, Any] = {}
    used: set[str] = set()
    for name, aliases in COLUMN_ALIASES.items():
        for alias in aliases:
            if alias in lowered and _clean(lowered[alias]) is not None:
                standard[name] = lowered[alias]
                used.add(alias)
                break
        else:
            used.update(a for a in aliases if a in lowered)
    extra = {k: v for k, v in lowered.items() if k not in used}
    return standard, extra


def read_manifest(
    path: PathLike,
    require_emotion: bool = False,
    check_files: bool = True,
) -> list[ManifestRow]:
    """Read a CSV/TSV/JSONL manifest into typed rows.

    Args:
        path: The manifest file.
        require_emotion: Fail on rows without an ``emotion`` (training and evaluation need it).
        check_files: Fail if an audio file does not exist.

    Returns:
        The rows in file order, with absolute paths and canonical labels.

    Raises:
        ManifestError: the file is missing or malformed, or a row is invalid; the message names the line.
    """
    manifest = Path(path).expanduser()
    if not manifest.is_file():
        raise ManifestError(f"Manifest {manifest} does not exist. Pass a .csv or .jsonl file listing the clips.")
    base = manifest.resolve().parent
    rows: list[ManifestRow] = []
    missing: list[str] = []
    for number, record in _rows_from_file(manifest):
        where = f"{manifest} line {number}"
        try:
            row = ManifestRow.from_dict(record, line=number)
        except KeyError:
            raise ManifestError(
                f"{where} has no audio path. Every row needs a 'path' column (relative or absolute)."
            ) from None
        except ValueError as exc:
            raise ManifestError(f"{where}: {exc}") from None
        if row.emotion is None and require_emotion:
            raise ManifestError(f"{where} has no emotion label. Fill the 'emotion' column for every row.")
        audio_path = _resolve(row.path, base)
        if check_files and not audio_path.is_file():
            missing.append(f"line {number}: {audio_path}")
        rows.append(replace(row, path=os.path.normpath(str(audio_path))))
    _check_found(manifest, missing)
    if not rows:
        raise ManifestError(f"Manifest {manifest} lists no clips. Add one row per audio file.")
    return rows


def _csv_cell(value: Any) -> Any:
    """A value as a CSV cell: empty for ``None``, JSON text for lists and objects."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, ensure_ascii=False)
    return value


def write_manifest(rows: Sequence[ManifestRow], path: PathLike, relative: bool = True) -> Path:
    """Write rows as CSV (``.csv``) or JSONL (``.jsonl``); paths relative to the manifest when ``relative``.

    Columns no row fills are left out; ``references`` is a JSON list (a JSON text in a CSV cell). The file
    is replaced at once (written aside, then renamed), so a crash never leaves half a manifest.
    """
    target = Path(path)
    if target.suffix.lower() not in (".csv", ".jsonl", ".ndjson", ".json"):
        raise ManifestError(
            f"Cannot write a manifest as {target.suffix or 'a file without suffix'}: name it .csv or .jsonl."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    base = target.resolve().parent
    records = []
    for row in rows:
        record = {k: v for k, v in row.to_dict().items() if v is not None}
        if relative:
            try:
                record["path"] = os.path.relpath(row.path, base)
            except ValueError:  # another drive on Windows
                record["path"] = row.path
        records.append(record)
    if target.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        text = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
    else:
        columns: list[str] = []
        for record in records:
            columns.extend(k for k in record if k not in columns)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for record in records:
            writer.writerow({k: _csv_cell(v) for k, v in record.items()})
        text = buffer.getvalue()
    write_text_atomic(target, text)
    return target


# ---------------------------------------------------------------------------- public reply benchmarks

#: Keys read from a reply-benchmark item (first found wins), for :func:`read_reply_benchmark`.
BENCHMARK_KEYS: dict[str, tuple[str, ...]] = {
    "path": ("audio", "audio_path", "path", "wav", "file"),
    "text": ("transcript", "text", "utterance", "sentence"),
    "emotion": ("emotion", "label", "emotion_label"),
    "replies": ("replies", "responses", "references", "targets"),
    "reply_text": ("text", "reply", "response"),
    "reply_emotion": ("emotion", "reply_emotion", "response_emotion"),
}


def _first(item: Mapping[str, Any], names: tuple[str, ...]) -> Any:
    return next((item[name] for name in names if name in item and item[name] not in (None, "")), None)


def _benchmark_label(label: Any, label_map: Mapping[str, str], where: str) -> str | None:
    text = _clean(label)
    if text is None:
        return None
    text = label_map.get(text.lower(), text)
    try:
        return canonical(text)
    except ConfigError as exc:
        raise ManifestError(
            f"{where}: {exc} Map it to a known label, e.g. label_map={{{text.lower()!r}: 'happy'}} "
            f"(--map-label {text.lower()}=happy)."
        ) from None


def read_reply_benchmark(path: PathLike, label_map: Mapping[str, str] | None = None) -> list[ManifestRow]:
    """Read a public emotional-reply benchmark into manifest rows with :attr:`ManifestRow.references`.

    The common shape: a JSON list (or JSONL, or ``{"data": [...]}``) of items, each with an audio path
    (``audio``, ``audio_path``, ``path``), its transcript (``transcript``, ``text``), its emotion label
    (``emotion``, ``label``) and a list of target replies (``replies``, ``responses``, ``references``),
    each a string or ``{"text": ..., "emotion": ...}`` (the reply's emotion). Other keys (``speaker``,
    ``language``, ``split``...) are read as manifest columns. Audio paths stay as written.

    Args:
        path: The benchmark file.
        label_map: Lower-case label -> a label emotionlayer knows, for labels outside its set.

    Raises:
        ManifestError: the file is missing, not JSON of that shape, or an item lacks what it needs; the
            message names the item.
    """
    source = Path(path).expanduser()
    if not source.is_file():
        raise ManifestError(
            f"Benchmark file {source} does not exist. Pass a JSON file listing the clips and their replies."
        )
    text = source.read_text(encoding="utf-8")
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError:
        try:
            data = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise ManifestError(f"{source} is neither JSON nor JSONL ({exc.msg}, line {exc.lineno}).") from None
    if isinstance(data, dict):
        data = next((data[k] for k in ("data", "items", "clips", "examples") if isinstance(data.get(k), list)), None)
    if not isinstance(data, list):
        raise ManifestError(
            f'{source}: expected a list of items (or {{"data": [...]}}), each with audio, transcript, emotion '
            "and replies."
        )
    mapping = {str(k).lower(): str(v) for k, v in (label_map or {}).items()}
    rows: list[ManifestRow] = []
    for number, item in enumerate(data, start=1):
        where = f"{source} item {number}"
        if not isinstance(item, dict):
            raise ManifestError(f"{where} is a JSON {type(item).__name__}, not an object.")
        audio = _first(item, BENCHMARK_KEYS["path"])
        replies = _first(item, BENCHMARK_KEYS["replies"])
        if audio is None or not replies:
            raise ManifestError(
                f"{where} needs an audio path ({', '.join(BENCHMARK_KEYS['path'])}) and a non-empty list of replies "
                f"({', '.join(BENCHMARK_KEYS['replies'])})."
            )
        if isinstance(replies, (str, dict)):
            replies = [replies]
        references = []
        for reply in replies:
            reply = {"text": reply} if isinstance(reply, str) else dict(reply)
            body = _clean(_first(reply, BENCHMARK_KEYS["reply_text"]))
            if body is None:
                raise ManifestError(f"{where}: a reply has no text (keys {', '.join(BENCHMARK_KEYS['reply_text'])}).")
            emotion = _benchmark_label(_first(reply, BENCHMARK_KEYS["reply_emotion"]), mapping, where)
            references.append(Reference(body, emotion))
        used = {
            k
            for keys in (
                BENCHMARK_KEYS["path"],
                BENCHMARK_KEYS["text"],
                BENCHMARK_KEYS["emotion"],
                BENCHMARK_KEYS["replies"],
            )
            for k in keys
        }
        others = {k: v for k, v in item.items() if k not in used}
        row = ManifestRow.from_dict({**others, "path": str(audio)}, line=number)
        rows.append(replace(row, text=_clean(_first(item, BENCHMARK_KEYS["text"])),
                            emotion=_benchmark_label(_first(item, BENCHMARK_KEYS["emotion"]), mapping, where),
                            references=tuple(references)))  # fmt: skip
    if not rows:
        raise ManifestError(f"{source} lists no items.")
    return rows


# ------------------------------------------------------------------------------------- dialogue datasets

#: File name of the manifest in a generated dialogue dataset's folder.
DIALOGUE_MANIFEST = "manifest.jsonl"
_DIALOGUE_REQUIRED: tuple[str, ...] = ("id", "text", "emotion", "audio")


@dataclass(frozen=True)
class DialogueRow:
    """One row of a generated emotional spoken-dialogue dataset (its ``manifest.jsonl``).

    A (question text, emotion, question speech, response) tuple in the style of E-chat200, written by
    :func:`emotionlayer.data.generation.generate_dataset`; :meth:`to_dict` gives the manifest line.

    Attributes:
        id: Row id, ``<seed id>-<k>``.
        seed_id: Id of the seed utterance (every row of one seed utterance is in the same split).
        text: The utterance.
        emotion: Canonical emotion label it is spoken (and answered) with.
        response: The LLM's reply, given the true text and the true emotion.
        audio: The speech, relative to the dataset folder as written in the manifest (``audio/<id>.wav``).
        voice: Label of the TTS voice.
        speaker: Speaker id; the voice in generated data, so that holding speakers out holds voices out.
        style: Speaking style the TTS was asked for.
        duration: Length of the speech in seconds.
        sample_rate: Sample rate of the speech.
        split: ``train``, ``dev`` or ``test``.
        language: ISO 639-1 code.
        strategy: Empathy strategy the reply was asked to follow.
        llm: Name of the LLM that wrote the reply.
        tts: Name of the TTS backend that spoke.
        extra: Any other column, kept as read.
        path: Absolute path of the audio, set by :func:`read_dialogue_manifest` (not compared, not written).
        line: Line number in the manifest (not compared, not written).
    """

    id: str
    seed_id: str
    text: str
    emotion: str
    response: str
    audio: str
    voice: str
    speaker: str
    style: SpeakingStyle
    duration: float
    sample_rate: int
    split: str
    language: str
    strategy: str
    llm: str
    tts: str
    extra: dict[str, Any] = field(default_factory=dict)
    path: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)

    def load_audio(self, sample_rate: int | None = None) -> Audio:
        """Load this row's speech (at its own rate, or resampled to ``sample_rate``)."""
        from ..audio import load_audio

        if not self.path:
            raise ManifestError(
                f"Row {self.id} has no resolved audio path. Read it with read_dialogue_manifest(folder)."
            )
        return load_audio(self.path, sample_rate, max_seconds=None)

    def to_dict(self) -> dict[str, Any]:
        """The manifest line: :data:`DIALOGUE_FIELDS` in order (``style`` as a dict), then the extra columns."""
        out = {name: getattr(self, name) for name in DIALOGUE_FIELDS}
        out["style"] = self.style.to_dict()
        out.update(self.extra)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DialogueRow:
        """Build a row from a manifest line (numbers and ``style`` may be strings, as in a CSV file).

        A missing ``speaker`` is the ``voice``; other missing fields are empty. Unknown keys go to ``extra``.

        Raises:
            KeyError: ``id``, ``text``, ``emotion`` or ``audio`` is missing.
            ValueError: a number or the style cannot be read.
        """
        style = data.get("style") or {}
        if isinstance(style, str):
            style = json.loads(style)
        if not isinstance(style, dict):
            raise ValueError(f"style must be an object with rate, pitch_semitones, volume; got {style!r}")
        voice = str(data.get("voice") or "")
        return cls(
            **{name: str(data[name]) for name in _DIALOGUE_REQUIRED},
            seed_id=str(data.get("seed_id") or ""),
            response=str(data.get("response") or ""),
            voice=voice,
            speaker=str(data.get("speaker") or voice),
            style=SpeakingStyle.from_dict(style),
            duration=float(data.get("duration") or 0.0),
            sample_rate=int(data.get("sample_rate") or 0),
            split=str(data.get("split") or ""),
            language=str(data.get("language") or ""),
            strategy=str(data.get("strategy") or ""),
            llm=str(data.get("llm") or ""),
            tts=str(data.get("tts") or ""),
            extra={k: v for k, v in data.items() if k not in DIALOGUE_FIELDS},
        )


#: The columns of a dialogue manifest, in the order they are written.
DIALOGUE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(DialogueRow) if f.name not in ("extra", "path", "line"))


def read_dialogue_manifest(path: PathLike, check_files: bool = False) -> list[DialogueRow]:
    """Read the manifest of a generated dialogue dataset into typed rows, in file order.

    Args:
        path: The manifest (``.jsonl``, or ``.csv`` with ``style`` as a JSON cell), or the dataset folder,
            read as ``folder/manifest.jsonl``.
        check_files: Fail if an audio file does not exist.

    Returns:
        The rows (none for a dataset generated with ``limit=0``), with canonical emotion labels and
        :attr:`DialogueRow.path` resolved against the manifest's folder.

    Raises:
        ManifestError: the manifest is missing or malformed, or a row is invalid; the message names the line.
    """
    manifest = Path(path).expanduser()
    if manifest.is_dir():
        manifest = manifest / DIALOGUE_MANIFEST
    if not manifest.is_file():
        raise ManifestError(
            f"No manifest at {manifest}. Generate a dataset first: emotionlayer data generate --out DIR."
        )
    base = manifest.resolve().parent
    example = '{"id": "s1-0", "text": "...", "emotion": "sad", "audio": "audio/s1-0.wav", ...}'
    rows: list[DialogueRow] = []
    missing: list[str] = []
    for number, record in _rows_from_file(manifest, example, ",".join(DIALOGUE_FIELDS)):
        where = f"{manifest} line {number}"
        absent = [name for name in _DIALOGUE_REQUIRED if _clean(record.get(name)) is None]
        if absent:
            raise ManifestError(f"{where} has no {', '.join(absent)}. Every row needs {', '.join(_DIALOGUE_REQUIRED)}.")
        try:
            row = DialogueRow.from_dict({**record, "emotion": canonical(record["emotion"])})
        except ConfigError as exc:
            raise ManifestError(f"{where}: {exc}") from None
        except (TypeError, ValueError) as exc:
            raise ManifestError(
                f"{where} has a value that cannot be read ({exc}). Check duration, sample_rate and style."
            ) from None
        audio_path = _resolve(row.audio, base)
        if check_files and not audio_path.is_file():
            missing.append(f"line {number}: {audio_path}")
        rows.append(replace(row, path=os.path.normpath(str(audio_path)), line=number))
    _check_found(manifest, missing)
    return rows


# ------------------------------------------------------------------------------------------------ events


@dataclass(frozen=True)
class EventRow:
    """One row of an event manifest: a recording with a clip-level event label or timed events.

    Attributes:
        path: Absolute audio path.
        label: Clip-level label (may be empty for utterances with several events).
        events: Events with times, if known (``None`` for clip-level rows).
        speaker: Speaker or source id, if given.
    """

    path: str
    label: str
    events: tuple[VocalEvent, ...] | None = None
    speaker: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The row as a JSONL manifest line (``events`` as a list of objects, or None)."""
        events = None if self.events is None else [event.to_dict() for event in self.events]
        return {"path": self.path, "label": self.label, "events": events, "speaker": self.speaker}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EventRow:
        """Build a row from a manifest line; ``events`` may be a list of objects or its JSON text (CSV).

        Raises:
            KeyError: ``path`` or an event's ``label``, ``start`` or ``end`` is missing.
            ValueError: ``events`` or an event's times cannot be read.
        """
        events = data.get("events")
        if isinstance(events, str):
            events = json.loads(events) if events.strip() else None
        return cls(
            path=str(data["path"]),
            label=str(data.get("label") or "").strip(),
            events=None if events is None else tuple(VocalEvent.from_dict(e) for e in events),
            speaker=str(data.get("speaker") or ""),
        )


def read_event_manifest(path: PathLike, check_files: bool = True) -> list[EventRow]:
    """Read a CSV (``path,label[,speaker]``) or JSONL (``path``, ``label``, optional ``events``) manifest.

    Relative paths are resolved against the manifest's folder. An ``events`` value is a list of
    ``{"label", "start", "end"}`` objects (a JSON string in a CSV cell); an empty one counts as none.

    Raises:
        ManifestError: the file is missing or malformed, or (with ``check_files``) audio files are missing.
    """
    manifest = Path(path).expanduser()
    if not manifest.is_file():
        raise ManifestError(f"Event manifest {manifest} does not exist. Pass a .csv (path,label) or .jsonl file.")
    base = manifest.resolve().parent
    example = '{"path": "a.wav", "events": [{"label": "cough", "start": 0.1, "end": 0.4}]}'
    out: list[EventRow] = []
    missing: list[str] = []
    for number, record in _rows_from_file(manifest, example, "path,label,speaker"):
        row = {str(k).strip().lower(): v for k, v in record.items()}
        where = f"{manifest} line {number}"
        if not row.get("path"):
            raise ManifestError(f"{where} has no 'path'. Every row needs path (and label).")
        try:
            parsed = EventRow.from_dict({**row, "path": str(_resolve(str(row["path"]), base))})
        except (KeyError, TypeError, ValueError, EmotionLayerError) as exc:
            raise ManifestError(
                f"{where}: cannot read its events ({type(exc).__name__}: {exc}). "
                'Write a list of {"label", "start", "end"} objects.'
            ) from None
        if parsed.events == ():
            parsed = replace(parsed, events=None)
        if not parsed.label and parsed.events is None:
            raise ManifestError(f"{where} has neither a 'label' nor 'events'.")
        if check_files and not Path(parsed.path).is_file():
            missing.append(parsed.path)
        out.append(parsed)
    if missing:
        raise ManifestError(f"{len(missing)} audio file(s) in {manifest} do not exist, e.g. {missing[0]}.")
    return out
