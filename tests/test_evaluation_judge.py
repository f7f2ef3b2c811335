"""The optional LLM judge, against a fake OpenAI-compatible endpoint on 127.0.0.1 that rates by rule."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from emotionlayer.evaluation.dialogue_report import DialogueClip, DialogueReply
from emotionlayer.evaluation.judge import LLMJudge, judge_replies, parse_rating


@pytest.fixture()
def judge_server() -> Iterator[dict]:
    """An endpoint that rates a reply with "sorry" in it 5/4, "???" not at all, anything else 2/3."""
    state: dict = {"requests": []}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            state["requests"].append(request)
            user = request["messages"][-1]["content"]
            answer = (
                "I cannot judge this."
                if "???" in user
                else ("Empathy: 5\nFit: 4" if "sorry" in user else "**Empathy**: 2\nFit: 3")
            )
            body = json.dumps(
                {"choices": [{"message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}]}
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - the model list, asked for when no model is named
            body = json.dumps({"data": [{"id": "judge-model"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_parse_rating_reads_the_fixed_format_and_nothing_else():
    assert parse_rating("Empathy: 4\nFit: 5") == (4, 5)
    assert parse_rating("**Empathy**: 2\n**Fit**: 1") == (2, 1)
    assert parse_rating("Empathy: 9\nFit: 3") is None  # out of the scale
    assert parse_rating("It is quite empathetic.") is None


def test_the_judge_prompt_carries_the_words_the_tone_and_the_reply():
    judge = LLMJudge(base_url="http://127.0.0.1:9/v1")
    system, user = judge.messages("I lost my keys", "sad", "Oh no, I'm sorry.")
    assert system["role"] == "system" and "Empathy" in system["content"] and "Fit" in system["content"]
    assert (
        user["content"] == 'The user said, sounding sad: "I lost my keys"\nThe assistant replied: "Oh no, I\'m sorry."'
    )


def test_judge_replies_rates_every_reply_and_caches_the_ratings(judge_server, tmp_path):
    clips = [DialogueClip(path=f"{i}.wav", text="I lost my keys", emotion="sad", references=("x",)) for i in range(3)]
    replies = {
        "kind": [
            [DialogueReply("kind", c.path, r) for c, r in zip(clips, ["I'm so sorry.", "Okay.", "???"], strict=True)]
        ]
    }
    judge = LLMJudge(base_url=judge_server["url"], model="judge-model")
    ratings = judge_replies(judge, clips, replies, tmp_path / "cache")
    assert ratings["kind"].shape == (1, 3, 2)
    assert ratings["kind"][0, 0].tolist() == [5, 4] and ratings["kind"][0, 1].tolist() == [2, 3]
    assert np.isnan(ratings["kind"][0, 2]).all()  # an unreadable answer is not a rating
    request = judge_server["requests"][0]
    assert request["model"] == "judge-model" and request["temperature"] == 0.0
    assert len(judge_server["requests"]) == 3
    again = judge_replies(judge, clips, replies, tmp_path / "cache")
    assert len(judge_server["requests"]) == 3  # every rating came from the cache
    np.testing.assert_array_equal(again["kind"], ratings["kind"])


def test_the_evaluator_reports_judge_ratings_with_intervals(judge_server, tmp_path):
    import soundfile as sf

    import emotionlayer.testing  # noqa: F401  (registers the echo system)
    from emotionlayer.evaluation.dialogue import evaluate_dialogue
    from emotionlayer.testing import tone

    rows = ["path,text,emotion,references"]
    for i, emotion in enumerate(("sad", "happy", "sad", "angry")):
        sf.write(str(tmp_path / f"{i}.wav"), tone(1.0 + 0.5 * i).samples, 16000)
        rows.append(f'{i}.wav,My phone broke,{emotion},"[""I am so sorry.""]"')
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    judge = LLMJudge(base_url=judge_server["url"])
    report = evaluate_dialogue(tmp_path / "m.csv", ["echo"], embedder=lambda texts, lang: np.ones((len(texts), 4)),
                               judge=judge, report_dir=tmp_path / "report", bootstrap=200)  # fmt: skip
    echo = report.systems["echo"]
    assert echo.judge_empathy == 2.0 and echo.judge_fit == 3.0  # "You said: ... seconds of sound" says no sorry
    assert echo.intervals["judge_fit"].low == echo.intervals["judge_fit"].high == 3.0
    assert len(judge_server["requests"]) == 4
    assert "## LLM judge" in (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
