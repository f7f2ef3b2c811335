"""Manifests: CSV or JSONL files that list audio clips and what is known about them.

Columns (CSV header or JSONL keys):

=============  ========  ==============================================================================
column         required  meaning
=============  ========  ==============================================================================
``path``       yes       audio file, relative to the manifest's folder or absolute
``emotion``    for SER   emotion label; aliases are accepted (``cheerful`` -> ``happy``)
``speaker``    no        speaker id (used to validate by leaving speakers out)
``text``       no        what is said
``language``   no        ISO 639-1 code
=============  ========  ==============================================================================

Other columns are kept in :attr:`ManifestRow.extra`. Example CSV::

    path,emotion,speaker,text,language
    clips/0001.wav,happy,spk1,Kids are talking by the door,en
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from ..errors import ConfigError
from ..labels import canonical
from ..types import Audio, Utterance

PathLike = Union[str, os.PathLike]

#: Column names accepted for the standard fields (first is the canonical name).
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "path": ("path", "audio", "audio_path", "file", "filename", "wav"),
    "emotion": ("emotion", "label", "emo"),
    "speaker": ("speaker", "speaker_id", "spk"),
    "text": ("text", "transcript", "sentence"),
    "language": ("language", "lang"),
}


class ManifestError(ConfigError):
    """A manifest that cannot be read, or a row in it that is not valid."""


@dataclass(frozen=True)
class ManifestRow:
    """One clip of a manifest.

    Attributes:
        path: Absolute path of the audio file.
        emotion: Canonical emotion label, if given.
        speaker: Speaker id, if given.
        text: What is said, if given.
        language: Language code, if given.
        extra: Every other column, as strings (CSV) or JSON values (JSONL).
        line: Line number in the manifest (for error messages).
    """

    path: str
    emotion: str | None = None
    speaker: str | None = None
    text: str | None = None
    language: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    line: int = 0

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
        out: dict[str, Any] = {
            "path": self.path,
            "emotion": self.emotion,
            "speaker": self.speaker,
            "text": self.text,
            "language": self.language,
        }
        out.update(self.extra)
        return out


def _clean(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _rows_from_file(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
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
                        'per line, e.g. {"path": "a.wav", "emotion": "happy"}.'
                    ) from exc
                if not isinstance(record, dict):
                    raise ManifestError(f"{path} line {number} is a JSON {type(record).__name__}, not an object.")
                yield number, record
    elif suffix in (".csv", ".tsv"):
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle, delimiter="\t" if suffix == ".tsv" else ",")
            if not reader.fieldnames:
                raise ManifestError(
                    f"{path} is empty. A CSV manifest needs a header line such as: path,emotion,speaker"
                )
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
        standard, extra = _normalise_keys(record)
        where = f"{manifest} line {number}"
        raw_path = _clean(standard.get("path"))
        if raw_path is None:
            raise ManifestError(f"{where} has no audio path. Every row needs a 'path' column (relative or absolute).")
        audio_path = Path(raw_path).expanduser()
        if not audio_path.is_absolute():
            audio_path = base / audio_path
        emotion = _clean(standard.get("emotion"))
        if emotion is not None:
            try:
                emotion = canonical(emotion)
            except ConfigError as exc:
                raise ManifestError(f"{where}: {exc}") from None
        elif require_emotion:
            raise ManifestError(f"{where} has no emotion label. Fill the 'emotion' column for every row.")
        if check_files and not audio_path.is_file():
            missing.append(f"line {number}: {audio_path}")
        rows.append(
            ManifestRow(
                path=os.path.normpath(str(audio_path)),
                emotion=emotion,
                speaker=_clean(standard.get("speaker")),
                text=_clean(standard.get("text")),
                language=_clean(standard.get("language")),
                extra=extra,
                line=number,
            )
        )
    if missing:
        shown = "; ".join(missing[:3]) + (f"; and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise ManifestError(
            f"{manifest}: {len(missing)} audio file(s) not found ({shown}). Paths are relative to the manifest's folder."
        )
    if not rows:
        raise ManifestError(f"Manifest {manifest} lists no clips. Add one row per audio file.")
    return rows


def write_manifest(rows: Sequence[ManifestRow], path: PathLike, relative: bool = True) -> Path:
    """Write rows as CSV (``.csv``) or JSONL (``.jsonl``); paths relative to the manifest when ``relative``."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    base = target.resolve().parent
    records = []
    for row in rows:
        record = row.to_dict()
        if relative:
            try:
                record["path"] = os.path.relpath(row.path, base)
            except ValueError:  # another drive on Windows
                record["path"] = row.path
        records.append(record)
    if target.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        with open(target, "w", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    else:
        columns: list[str] = []
        for record in records:
            columns.extend(k for k in record if k not in columns)
        with open(target, "w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            for record in records:
                writer.writerow({k: "" if v is None else v for k, v in record.items()})
    return target
