"""Atomic text writes: a reader sees the old file or the whole new one, and no temporary file stays."""

from __future__ import annotations

import os

import pytest

from emotionlayer.files import fsync_dir, write_text_atomic


def test_write_text_atomic_replaces_the_whole_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "card.json"
    write_text_atomic(target, "old\n")
    write_text_atomic(str(target), "né\nnew\n")
    assert target.read_text(encoding="utf-8") == "né\nnew\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["card.json"]
    fsync_dir(tmp_path)
    fsync_dir(tmp_path / "missing")  # nothing to flush: no error


def test_a_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "manifest.jsonl"
    write_text_atomic(target, "old\n")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_text_atomic(target, "new\n")
    assert target.read_text() == "old\n"
