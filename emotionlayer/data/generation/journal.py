"""The journal of a generation run: the rows finished so far, durable across a crash at any moment."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

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
