"""Checking a paralinguistic corpus by ear: a local page that plays each clip with its tagged text and records
accept or reject, as SynParaSpeech's manual check does.

``emotionlayer data review CORPUS_DIR`` (:func:`review_command`) serves :func:`create_review_app` on
127.0.0.1:7861. The page lists the clips of ``manifest.jsonl`` (unreviewed first), plays each one, shows its
tagged text with the event marked and its time span (a button plays just the event with half a second
around it), and has Accept / Reject buttons with an optional note.

Every decision is appended to ``review.jsonl`` (one JSON line, fsynced: a crash loses nothing recorded) and
merged into the manifest's ``review`` field, ``{"decision": "accept" | "reject", "note", "time"}``, by
:func:`apply_reviews`, which rewrites the manifest atomically (a temporary file renamed over it). A later
decision for the same clip replaces the earlier one. Running :func:`apply_reviews` again (the app does on
start) repairs a manifest rewritten since, for example by resuming the corpus build.

Routes: ``GET /`` (the page), ``GET /api/clips?show=unreviewed|all|accept|reject``, ``GET /audio/{path}``
(files inside the corpus folder only), ``POST /api/clips/{id}/review`` with ``{"decision", "note"}``.
Errors are JSON ``{"error": MESSAGE}`` (404 for an unknown clip or file, 400 for a bad decision).
"""

from __future__ import annotations

import json
import os
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import typer

from ...errors import ConfigError
from ...files import write_text_atomic

__all__ = [
    "DECISIONS",
    "MANIFEST",
    "REVIEWS",
    "apply_reviews",
    "create_review_app",
    "read_manifest",
    "record_review",
    "review_command",
]

#: The corpus manifest and the reviewer's journal, inside the corpus folder.
MANIFEST = "manifest.jsonl"
REVIEWS = "review.jsonl"
#: What a reviewer may decide.
DECISIONS: tuple[str, ...] = ("accept", "reject")
#: Files the page may play.
_AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
_MEDIA_TYPES = {".wav": "audio/wav", ".flac": "audio/flac", ".ogg": "audio/ogg", ".mp3": "audio/mpeg"}


def read_manifest(corpus_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The clips of ``corpus_dir/manifest.jsonl``, in order.

    Raises:
        ConfigError: no manifest there, a line that is not a JSON object, or a clip without an ``id``.
    """
    path = Path(corpus_dir) / MANIFEST
    if not path.is_file():
        raise ConfigError(
            f"No {MANIFEST} in {corpus_dir}: give the folder `emotionlayer data paralinguistic --out` wrote."
        )
    clips: list[dict[str, Any]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            clip = json.loads(line)
        except ValueError as exc:
            raise ConfigError(f"{path} line {number} is not JSON ({exc}).") from None
        if not isinstance(clip, dict) or "id" not in clip:
            raise ConfigError(f"{path} line {number} is not a clip with an 'id'.")
        clips.append(clip)
    return clips


def _decisions(corpus_dir: Path) -> dict[str, dict[str, Any]]:
    """Clip id -> its latest review, from ``review.jsonl`` (a torn last line is cut off by the journal)."""
    from ...data.generation.journal import Journal

    if not (corpus_dir / REVIEWS).exists():
        return {}
    journal = Journal(corpus_dir / REVIEWS)
    journal.close()
    return {key: _review_of(record) for key, record in journal.records.items()}


def _review_of(record: dict[str, Any]) -> dict[str, Any]:
    return {"decision": record.get("decision"), "note": record.get("note", ""), "time": record.get("time")}


def apply_reviews(corpus_dir: str | os.PathLike) -> dict[str, int]:
    """Merge the decisions of ``review.jsonl`` into the manifest's ``review`` fields (atomic rewrite).

    The latest decision per clip wins; clips without one keep what the manifest has. The manifest is only
    rewritten when something changes.

    Returns:
        Counts: ``accept``, ``reject``, ``unreviewed`` (clips of the manifest), and ``unknown`` (decisions
        for clips the manifest no longer has, kept in ``review.jsonl`` but not applied).
    """
    root = Path(corpus_dir)
    clips = read_manifest(root)
    decisions = _decisions(root)
    changed = False
    counts = {"accept": 0, "reject": 0, "unreviewed": 0, "unknown": 0}
    ids = set()
    for clip in clips:
        ids.add(clip["id"])
        review = decisions.get(clip["id"])
        if review is not None and clip.get("review") != review:
            clip["review"] = review
            changed = True
        decision = (clip.get("review") or {}).get("decision") if isinstance(clip.get("review"), dict) else None
        counts[decision if decision in DECISIONS else "unreviewed"] += 1
    counts["unknown"] = len(set(decisions) - ids)
    if changed:
        write_text_atomic(root / MANIFEST, "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in clips))
    return counts


def record_review(corpus_dir: str | os.PathLike, clip_id: str, decision: str, note: str = "") -> dict[str, Any]:
    """Record one decision: append it to ``review.jsonl`` and merge it into the manifest.

    Returns:
        The clip's ``review`` field as written.

    Raises:
        ConfigError: ``decision`` is not ``accept`` or ``reject``.
        KeyError: the manifest has no clip ``clip_id``.
    """
    from ...data.generation.journal import Journal

    decision = str(decision).strip().lower()
    if decision not in DECISIONS:
        raise ConfigError(f"A review decision is 'accept' or 'reject', not {decision!r}.")
    root = Path(corpus_dir)
    if clip_id not in {c["id"] for c in read_manifest(root)}:
        raise KeyError(clip_id)
    time = datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    record = {"id": clip_id, "decision": decision, "note": str(note or "").strip(), "time": time}
    journal = Journal(root / REVIEWS)
    try:
        journal.append(record)
    finally:
        journal.close()
    apply_reviews(root)
    return _review_of(record)


def _clip_json(clip: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "path", "text", "plain_text", "label", "events", "duration", "sample_rate", "language", "speaker")
    out = {key: clip.get(key) for key in keys}
    out["review"] = clip.get("review")
    out["audio_url"] = "/audio/" + quote(str(clip.get("path", "")).lstrip("/"))
    return out


def _decision_of(clip: dict[str, Any]) -> str | None:
    review = clip.get("review")
    return review.get("decision") if isinstance(review, dict) else None


def _inside(root: Path, relative: str) -> Path | None:
    """``root/relative`` if it is an audio file inside ``root`` (links resolved), else ``None``."""
    try:
        path = (root / relative).resolve()
        path.relative_to(root)
    except (ValueError, OSError):
        return None
    if path.suffix.lower() not in _AUDIO_SUFFIXES or not path.is_file():
        return None
    return path


def create_review_app(corpus_dir: str | os.PathLike) -> Any:
    """The FastAPI app of the review page for the corpus in ``corpus_dir`` (see the module's description).

    Raises:
        ConfigError: the folder has no readable ``manifest.jsonl``.
    """
    from fastapi import Body, FastAPI
    from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

    root = Path(corpus_dir).expanduser().resolve()
    apply_reviews(root)  # decisions recorded before a rebuild of the manifest, or before a crash
    lock = threading.Lock()
    app = FastAPI(title="emotionlayer corpus review", docs_url=None, redoc_url=None)

    def error(status: int, message: str) -> Any:
        return JSONResponse({"error": message}, status_code=status)

    @app.get("/", response_class=HTMLResponse)
    def page() -> Any:
        return HTMLResponse(_PAGE.replace("{{ corpus }}", _html_escape(root.name)))

    @app.get("/api/clips")
    def clips(show: str = "unreviewed") -> Any:
        if show not in ("unreviewed", "all", *DECISIONS):
            return error(400, f"show must be unreviewed, all, accept or reject, not {show!r}.")
        rows = read_manifest(root)
        counts = {"all": len(rows), "unreviewed": sum(_decision_of(c) is None for c in rows)}
        counts.update({d: sum(_decision_of(c) == d for c in rows) for d in DECISIONS})
        if show == "unreviewed":  # the unreviewed first, then the rest, each in manifest order
            rows = [c for c in rows if _decision_of(c) is None] + [c for c in rows if _decision_of(c) is not None]
        elif show in DECISIONS:
            rows = [c for c in rows if _decision_of(c) == show]
        return {"corpus": root.name, "counts": counts, "clips": [_clip_json(c) for c in rows]}

    @app.get("/audio/{relative:path}")
    def audio(relative: str) -> Any:
        path = _inside(root, relative)
        if path is None:
            return error(404, f"No audio file {relative!r} inside the corpus folder.")
        return FileResponse(path, media_type=_MEDIA_TYPES[path.suffix.lower()])

    @app.post("/api/clips/{clip_id}/review")
    def review(clip_id: str, body: dict[str, Any] = Body(...)) -> Any:
        try:
            with lock:
                written = record_review(root, clip_id, body.get("decision", ""), body.get("note", ""))
        except KeyError:
            return error(404, f"No clip with id {clip_id!r} in {MANIFEST}; reload the page to see the current clips.")
        except ConfigError as exc:
            return error(400, str(exc))
        return {"id": clip_id, "review": written}

    return app


def _html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def review_command(
    corpus_dir: str = typer.Argument(
        ...,
        help="The corpus folder (holds manifest.jsonl and the clips), as `emotionlayer data paralinguistic` wrote it.",
    ),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on (127.0.0.1: this machine only; 0.0.0.0: every interface)."
    ),
    port: int = typer.Option(7861, "--port", "-p", help="Port to listen on."),
) -> None:
    """Listen to each clip of a paralinguistic corpus and accept or reject it, in the browser.

    Decisions go to review.jsonl in the corpus folder and into each clip's "review" field in manifest.jsonl
    (clips rejected by ear are then left out of the corpus statistics).
    """
    import uvicorn

    app = create_review_app(corpus_dir)
    counts = apply_reviews(corpus_dir)
    typer.echo(
        f"emotionlayer: reviewing {sum(counts[k] for k in ('accept', 'reject', 'unreviewed'))} clips "
        f"({counts['unreviewed']} unreviewed) on http://{host}:{port}/ (Ctrl+C to stop)",
        err=True,
    )
    uvicorn.run(app, host=host, port=port, log_level="warning")


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Review {{ corpus }}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body { font: 15px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 60em; padding: 0 1em; color: #222; }
header { display: flex; gap: 1em; align-items: baseline; flex-wrap: wrap; }
.clip { border: 1px solid #ccc; border-radius: 6px; padding: .7em 1em; margin: .8em 0; }
.clip.accept { border-left: 6px solid #2a8a3a; } .clip.reject { border-left: 6px solid #b83232; }
.meta { color: #666; font-size: 90%; } .text { font-size: 115%; margin: .4em 0; }
mark { background: #ffe07a; padding: 0 .15em; border-radius: 3px; }
audio { width: 100%; margin: .3em 0; } .row { display: flex; gap: .5em; align-items: center; flex-wrap: wrap; }
input.note { flex: 1; min-width: 12em; } .status { font-weight: 600; } .error { color: #b83232; }
</style></head>
<body>
<header><h1>Review: {{ corpus }}</h1>
<label>Show <select id="show"><option value="unreviewed">unreviewed first</option><option value="all">all</option>
<option value="accept">accepted</option><option value="reject">rejected</option></select></label>
<span id="counts" class="meta"></span></header>
<p class="meta">Play a clip, check that the event sounds natural where the tag says, then Accept or Reject
(a note is optional). "Play event" plays the event with half a second around it.</p>
<p id="message" class="error"></p>
<div id="clips"></div>
<script>
const $ = (tag, props = {}, ...children) => {
  const el = Object.assign(document.createElement(tag), props);
  for (const c of children) el.append(c);
  return el;
};
function taggedText(text) {
  const out = $("div", {className: "text"});
  for (const part of String(text || "").split(/(\\[[^\\]]+\\])/)) {
    if (!part) continue;
    out.append(/^\\[[^\\]]+\\]$/.test(part) ? $("mark", {textContent: part}) : document.createTextNode(part));
  }
  return out;
}
function span(events) {
  return (events || []).map(e => `${e.label} ${Number(e.start).toFixed(2)}-${Number(e.end).toFixed(2)} s`).join(", ");
}
async function decide(clip, decision, note, box) {
  const r = await fetch(`/api/clips/${encodeURIComponent(clip.id)}/review`, {
    method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({decision, note})});
  const body = await r.json();
  if (!r.ok) { document.getElementById("message").textContent = body.error; return; }
  clip.review = body.review;
  box.className = "clip " + body.review.decision;
  box.querySelector(".status").textContent = body.review.decision === "accept" ? "accepted" : "rejected";
  load(false);
}
function card(clip) {
  const box = $("div", {className: "clip " + (clip.review ? clip.review.decision : "")});
  const player = $("audio", {controls: true, preload: "none", src: clip.audio_url});
  const note = $("input", {className: "note", placeholder: "note (optional)",
                           value: clip.review ? clip.review.note : ""});
  const ev = (clip.events || [])[0];
  const playEvent = $("button", {textContent: "Play event", disabled: !ev, onclick: () => {
    player.currentTime = Math.max(0, ev.start - 0.5);
    const stop = () => {
      if (player.currentTime >= ev.end + 0.5) { player.pause(); player.removeEventListener("timeupdate", stop); }
    };
    player.addEventListener("timeupdate", stop); player.play();
  }});
  const status = $("span", {className: "status",
    textContent: clip.review ? (clip.review.decision === "accept" ? "accepted" : "rejected") : "unreviewed"});
  box.append(
    $("div", {className: "meta", textContent:
      `${clip.id} - ${clip.label || ""} - ${span(clip.events)} - ${Number(clip.duration || 0).toFixed(2)} s` +
      (clip.speaker ? ` - speaker ${clip.speaker}` : "") + (clip.language ? ` - ${clip.language}` : "")}),
    taggedText(clip.text), player,
    $("div", {className: "row"}, playEvent,
      $("button", {textContent: "Accept", onclick: () => decide(clip, "accept", note.value, box)}),
      $("button", {textContent: "Reject", onclick: () => decide(clip, "reject", note.value, box)}),
      note, status));
  return box;
}
async function load(redraw = true) {
  const show = document.getElementById("show").value;
  const r = await fetch(`/api/clips?show=${show}`);
  const body = await r.json();
  if (!r.ok) { document.getElementById("message").textContent = body.error; return; }
  const c = body.counts;
  document.getElementById("counts").textContent =
    `${c.all} clips: ${c.unreviewed} unreviewed, ${c.accept} accepted, ${c.reject} rejected`;
  if (!redraw) return;
  const list = document.getElementById("clips");
  list.replaceChildren(...body.clips.map(card));
}
document.getElementById("show").onchange = () => load();
load();
</script></body></html>
"""
