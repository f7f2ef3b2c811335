"""The review page of a paralinguistic corpus: clips listed and played, decisions journaled and merged into the
manifest, files outside the corpus folder refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from emotionlayer.errors import ConfigError
from emotionlayer.paralinguistics.corpus.review import (
    MANIFEST,
    REVIEWS,
    apply_reviews,
    create_review_app,
    read_manifest,
    review_command,
)

pytest.importorskip("fastapi")
pytest.importorskip("httpx")


def _clip(index: int, label: str, text: str) -> dict:
    return {
        "id": f"clip{index:03d}",
        "path": f"wav/clip{index:03d}.wav",
        "text": text,
        "plain_text": text.replace(f" [{label}]", ""),
        "label": label,
        "events": [{"label": label, "start": 0.1, "end": 0.2, "start_sample": 1600, "end_sample": 3200}],
        "duration": 0.3,
        "sample_rate": 16000,
        "language": "en",
        "speaker": "s1",
        "review": None,
    }


@pytest.fixture()
def corpus(tmp_path) -> Path:
    root = tmp_path / "corpus"
    (root / "wav").mkdir(parents=True)
    clips = [
        _clip(0, "laugh", "I was [laugh] there"),
        _clip(1, "sigh", "It was a long [sigh] day"),
        _clip(2, "gasp", "Oh [gasp] <b>really</b>?"),
    ]
    tone = (0.1 * np.sin(2 * np.pi * 220 * np.arange(4800) / 16000)).astype(np.float32)
    for clip in clips:
        sf.write(root / clip["path"], tone, 16000)
    (root / MANIFEST).write_text("".join(json.dumps(c) + "\n" for c in clips), encoding="utf-8")
    sf.write(tmp_path / "secret.wav", tone, 16000)  # outside the corpus folder
    return root


@pytest.fixture()
def client(corpus):
    from fastapi.testclient import TestClient

    return TestClient(create_review_app(corpus))


def manifest_reviews(root: Path) -> dict:
    return {c["id"]: c["review"] for c in read_manifest(root)}


def test_the_page_lists_the_clips(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "Accept" in page.text and "Reject" in page.text and "<script>" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # nothing from a CDN
    body = client.get("/api/clips").json()
    assert [c["id"] for c in body["clips"]] == ["clip000", "clip001", "clip002"]
    assert body["counts"] == {"all": 3, "unreviewed": 3, "accept": 0, "reject": 0}
    first = body["clips"][0]
    assert first["text"] == "I was [laugh] there" and first["events"][0]["start"] == 0.1
    assert first["audio_url"] == "/audio/wav/clip000.wav"
    assert client.get("/api/clips", params={"show": "maybe"}).status_code == 400


def test_audio_is_served_from_the_folder(client, corpus):
    response = client.get("/audio/wav/clip001.wav")
    assert response.status_code == 200 and response.headers["content-type"] == "audio/wav"
    assert response.content == (corpus / "wav" / "clip001.wav").read_bytes()


@pytest.mark.parametrize(
    "path",
    [
        "/audio/..%2Fsecret.wav",
        "/audio/wav/..%2F..%2Fsecret.wav",
        "/audio/%2E%2E/secret.wav",
        "/audio/%2Fetc%2Fpasswd",
        "/audio/manifest.jsonl",  # inside, but not audio
        "/audio/wav/missing.wav",
        "/audio/linked.wav",  # a link inside that points outside
    ],
)
def test_files_outside_the_folder_are_refused(client, corpus, path):
    (corpus / "linked.wav").symlink_to(corpus.parent / "secret.wav")
    response = client.get(path)
    assert response.status_code == 404
    assert "inside the corpus folder" in response.json()["error"]


def test_a_decision_is_journaled_and_merged_and_the_last_one_wins(client, corpus):
    response = client.post("/api/clips/clip001/review", json={"decision": "accept", "note": " sounds fine "})
    assert response.status_code == 200
    review = response.json()["review"]
    assert review["decision"] == "accept" and review["note"] == "sounds fine" and review["time"].endswith("Z")
    journal = [json.loads(line) for line in (corpus / REVIEWS).read_text(encoding="utf-8").splitlines()]
    assert [(r["id"], r["decision"]) for r in journal] == [("clip001", "accept")]
    assert manifest_reviews(corpus) == {"clip000": None, "clip001": review, "clip002": None}

    second = client.post("/api/clips/clip001/review", json={"decision": "reject", "note": "the sigh is cut"})
    assert second.status_code == 200
    assert len((corpus / REVIEWS).read_text(encoding="utf-8").splitlines()) == 2
    after = manifest_reviews(corpus)
    assert after["clip001"]["decision"] == "reject" and after["clip001"]["note"] == "the sigh is cut"
    assert after["clip000"] is None and after["clip002"] is None
    assert not list(corpus.glob(".*.part"))  # the rewrite left no temporary file

    listed = client.get("/api/clips").json()
    assert [c["id"] for c in listed["clips"]] == ["clip000", "clip002", "clip001"]  # unreviewed first
    assert listed["counts"] == {"all": 3, "unreviewed": 2, "accept": 0, "reject": 1}
    assert [c["id"] for c in client.get("/api/clips", params={"show": "reject"}).json()["clips"]] == ["clip001"]
    assert client.get("/api/clips", params={"show": "accept"}).json()["clips"] == []
    # the other fields of the manifest are untouched
    clip = next(c for c in read_manifest(corpus) if c["id"] == "clip001")
    assert clip["text"] == "It was a long [sigh] day" and clip["events"][0]["end_sample"] == 3200


def test_unknown_clips_and_bad_decisions_are_refused(client, corpus):
    unknown = client.post("/api/clips/nope/review", json={"decision": "accept"})
    assert unknown.status_code == 404 and "'nope'" in unknown.json()["error"]
    bad = client.post("/api/clips/clip000/review", json={"decision": "maybe"})
    assert bad.status_code == 400 and "'accept' or 'reject'" in bad.json()["error"]
    assert not (corpus / REVIEWS).exists() or (corpus / REVIEWS).read_text(encoding="utf-8") == ""
    assert all(r is None for r in manifest_reviews(corpus).values())


def test_apply_reviews_repairs_a_rebuilt_manifest_and_survives_a_torn_line(client, corpus):
    client.post("/api/clips/clip000/review", json={"decision": "accept"})
    client.post("/api/clips/clip002/review", json={"decision": "reject", "note": "clipped"})
    # the corpus build rewrites the manifest without the reviews, and a crash tore the journal's last line
    clips = read_manifest(corpus)
    (corpus / MANIFEST).write_text("".join(json.dumps({**c, "review": None}) + "\n" for c in clips), "utf-8")
    with open(corpus / REVIEWS, "a", encoding="utf-8") as handle:
        handle.write('{"id": "clip001", "decis')
    counts = apply_reviews(corpus)
    assert counts == {"accept": 1, "reject": 1, "unreviewed": 1, "unknown": 0}
    reviews = manifest_reviews(corpus)
    assert reviews["clip000"]["decision"] == "accept" and reviews["clip002"]["note"] == "clipped"
    assert reviews["clip001"] is None
    # a decision for a clip the manifest no longer has is kept in the journal, not applied
    (corpus / MANIFEST).write_text("".join(json.dumps(c) + "\n" for c in clips[:2]), "utf-8")
    assert apply_reviews(corpus)["unknown"] == 1


def test_a_folder_without_a_manifest_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="No manifest.jsonl"):
        create_review_app(tmp_path)


def test_the_command_has_help_and_listens_on_loopback():
    import typer
    from typer.testing import CliRunner

    app = typer.Typer()
    app.command("review")(review_command)
    app.command("other")(lambda: None)
    result = CliRunner().invoke(app, ["review", "--help"])
    assert result.exit_code == 0
    assert "corpus_dir" in result.output.lower() and "--host" in result.output and "--port" in result.output
    assert "127.0.0.1" in result.output and "7861" in result.output
