"""What a resumable run keeps in its folder: the journal of the rows finished so far, durable across a crash at any
moment, and the settings the folder was started with (:func:`claim_settings`)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ...errors import ConfigError
from ...files import write_text_atomic

logger = logging.getLogger(__name__)


class Journal:
    """Append-only JSONL record of finished rows; each append is one write followed by fsync.

    Opening it cuts off a torn last line (from a process killed mid-write), so appends always start on a
    fresh line. When a row id appears more than once the last record wins.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: dict[str, dict[str, Any]] = {}
        self._recover()
        self._handle = open(self.path, "ab")

    def _recover(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        good = 0
        position = 0
        while position < len(data):
            end = data.find(b"\n", position)
            if end < 0:
                break  # a torn last line with no newline
            line = data[position:end]
            try:
                record = json.loads(line.decode("utf-8"))
                self.records[record["id"]] = record
                good = end + 1
            except (ValueError, KeyError, TypeError):
                logger.warning("Ignoring an unreadable journal line at byte %d of %s", position, self.path)
                good = end + 1  # a complete but bad line is skipped, not fatal
            position = end + 1
        if good < len(data):
            logger.info("Cutting a torn last line (%d bytes) off %s", len(data) - good, self.path)
            with open(self.path, "r+b") as handle:
                handle.truncate(good)
                handle.flush()
                os.fsync(handle.fileno())

    def append(self, record: dict[str, Any]) -> None:
        """Record a finished row durably."""
        self._handle.write((json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self.records[record["id"]] = record

    def close(self) -> None:
        self._handle.close()


def claim_settings(
    file: Path, settings: dict[str, Any], made: str, before_write: Callable[[], None] | None = None
) -> None:
    """Write a run folder's settings into ``file``, or check that a rerun asks for the same ones.

    A rerun finishes (or extends) the folder only with the settings it was started with: its rows depend on
    them. ``before_write`` runs first when the folder is new (e.g. to check that the voices exist).

    Args:
        file: The settings file (JSON) in the run folder.
        settings: What the folder's rows depend on.
        made: What the folder holds, for the message (``"a corpus built"``).
        before_write: Called before a new folder's settings are written.

    Raises:
        ConfigError: the folder was started with other settings (the message names those that differ).
    """
    if file.exists():
        previous = json.loads(file.read_text(encoding="utf-8"))
        differences = sorted(k for k in set(previous) | set(settings) if previous.get(k) != settings.get(k))
        if differences:
            raise ConfigError(
                f"{file.parent} holds {made} with other settings ({', '.join(differences)} differ; see {file}). "
                "Rerun with the same options to finish or extend it, or choose a new --out folder."
            )
        return
    if before_write is not None:
        before_write()
    write_text_atomic(file, json.dumps(settings, indent=2, ensure_ascii=False) + "\n")
