"""Atomic text writes (a reader sees the old file or the whole new one, no temporary file stays) and file hashes."""

from __future__ import annotations

import hashlib
import os

import pytest

from emotionlayer.files import fsync_dir, hash_file, write_text_atomic


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


def test_hash_file_reads_every_block_and_keeps_a_prefix(tmp_path):
    data = os.urandom((1 << 20) + 123)  # more than one block
    target = tmp_path / "model.gguf"
    target.write_bytes(data)
    assert hash_file(target).hexdigest() == hashlib.sha256(data).hexdigest()
    assert hash_file(str(target), hashlib.sha1()).hexdigest() == hashlib.sha1(data).hexdigest()
    assert hash_file(target, hashlib.sha256(b"v1|")).hexdigest() == hashlib.sha256(b"v1|" + data).hexdigest()
