"""Replies in the user's language: the packaged Chinese configuration end to end, on a real Mandarin
recording (tests/data/zh_this_is_me.flac, see tests/data/README.md), with a fake OpenAI-compatible server
that answers in Traditional Chinese, as a model might.

Real models: whisper base (the ``multilingual`` extra), the packaged SER and event detector, silero VAD and
eSpeak NG's Mandarin voice; the spoken reply is transcribed again to check it was said in Chinese. The
server listens on 127.0.0.1 only and is stopped by its fixture.
"""

from __future__ import annotations

import http.server
import json
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import emotionlayer
import emotionlayer.testing as fakes
from emotionlayer import registry
from emotionlayer.assets import is_whisper_installed
from emotionlayer.config import PipelineConfig
from emotionlayer.live import LiveConfig, LiveSession
from emotionlayer.live.sources import Say, WaitFor, scripted
from emotionlayer.paralinguistics.tags import normalise_cues, strip_tags
from emotionlayer.pipeline import CascadePipeline
from emotionlayer.prompting import PromptRenderer
from emotionlayer.types import EmotionPrediction, HeardEvent, Transcript, Utterance

CLIP = Path(__file__).resolve().parent / "data" / "zh_this_is_me.flac"
ZH_CONFIG = Path(emotionlayer.__file__).resolve().parent / "configs" / "zh.yaml"
#: What the fake server answers: Traditional characters and a cue, as a Chinese LLM may write.
REPLY_TRADITIONAL = "別擔心，我們一起想辦法。（嘆氣）你一定可以的！"
REPLY_SIMPLIFIED = "别担心，我们一起想办法。你一定可以的！"


def _opencc_missing() -> bool:
    import importlib.util

    return importlib.util.find_spec("opencc") is None


needs_opencc = pytest.mark.skipif(_opencc_missing(), reason="opencc is not installed (pip install opencc)")


class ChineseServer:
    """An OpenAI-compatible chat server on 127.0.0.1 that streams :data:`REPLY_TRADITIONAL` and records requests."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        requests = self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                requests.append(body)
                if body.get("stream"):
                    pieces = [REPLY_TRADITIONAL[i : i + 3] for i in range(0, len(REPLY_TRADITIONAL), 3)]
                    events = [json.dumps({"choices": [{"delta": {"content": p}}]}) for p in pieces]
                    data = "".join(f"data: {e}\n\n" for e in events) + "data: [DONE]\n\n"
                    self._send(data.encode(), "text/event-stream")
                else:
                    answer = {"choices": [{"message": {"role": "assistant", "content": REPLY_TRADITIONAL}}]}
                    self._send(json.dumps(answer).encode(), "application/json")

            def do_GET(self) -> None:  # noqa: N802
                self._send(json.dumps({"data": [{"id": "fake-qwen"}]}).encode(), "application/json")

            def _send(self, body: bytes, content_type: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture()
def server() -> Iterator[ChineseServer]:
    fake = ChineseServer()
    try:
        yield fake
    finally:
        fake.close()


def _needs_chinese_models() -> None:
    if not is_whisper_installed("base"):
        pytest.skip('whisper base is not installed (pip install "emotionlayer[multilingual]")')
    reason = registry.get_class("tts", "espeak-ng").check_usable()
    if reason:
        pytest.skip(reason)
    if _opencc_missing():
        pytest.skip("opencc is not installed")


def test_the_packaged_chinese_config() -> None:
    config = PipelineConfig.load(ZH_CONFIG)
    assert (config.run.language, config.run.chinese_script, config.run.detect_events) == ("zh", "simplified", True)
    assert config.asr.params["model"] == "base" and config.llm.backend == "openai"
    assert (config.tts.backend, config.tts.params["voice"]) == ("espeak-ng", "cmn")
    # The English strategies and the LLM's settings in the default config are untouched by it.
    assert config.strategies == PipelineConfig.default().strategies


def test_a_chinese_turn_end_to_end(server: ChineseServer, monkeypatch: pytest.MonkeyPatch) -> None:
    _needs_chinese_models()
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    config = PipelineConfig.load(ZH_CONFIG)
    with CascadePipeline.from_config(config) as pipe:
        turn = pipe.respond(CLIP)
    # Heard in Simplified characters (whisper base writes this clip in Traditional ones).
    assert turn.transcript.language == "zh"
    assert "这就是我" in turn.transcript.text and "這" not in turn.transcript.text
    # The LLM was asked in Chinese: the Chinese template, the comfort/engage... strategy in Chinese, the
    # few-shot example in Chinese, and the user's words in Simplified characters.
    (request,) = server.requests
    system, *_, user = request["messages"]
    assert system["content"].startswith("你是一个体贴的语音助手。") and "简体中文" in system["content"]
    strategy = config.strategies[turn.emotion.label]
    assert strategy.languages["zh"]["instruction"] in system["content"]
    assert user["content"].startswith("（听起来") and "这就是我" in user["content"]
    assert request["messages"][-2]["content"] == strategy.languages["zh"]["example"][1]
    # The reply is in Simplified characters; the sigh cue is played, not read.
    assert turn.response.text.replace("[sigh] ", "") == REPLY_SIMPLIFIED
    assert strip_tags(turn.response.text) == (REPLY_SIMPLIFIED, ["sigh"])
    assert turn.events == ()  # plain speech: the detector stays silent
    # And it was said in Mandarin: whisper base hears the words again.
    assert turn.audio is not None and turn.audio.duration > 2.0
    heard = pipe.asr.transcribe(turn.audio.resample(16000), language="zh").text
    assert any(word in heard for word in ("担心", "擔心", "办法", "辦法", "一起")), heard


def test_respond_cli_answers_in_chinese_with_events_in_the_json(
    server: ChineseServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _needs_chinese_models()
    from emotionlayer.cli import main as cli

    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    out = tmp_path / "reply.wav"
    argv = ["emotionlayer", "respond", str(CLIP), "--config", str(ZH_CONFIG), "--out", str(out), "--json"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert not exit_info.value.code
    data = json.loads(capsys.readouterr().out)
    assert "这就是我" in data["transcript"] and data["events"] == []
    assert data["response"]["text"].replace("[sigh] ", "") == REPLY_SIMPLIFIED and out.is_file()


@needs_opencc
def test_the_cascade_converts_given_text_and_the_reply_without_audio_models() -> None:
    reply = {"backend": "dummy", "params": {"reply": REPLY_TRADITIONAL}}
    config = {"ser": "dummy", "asr": "dummy", "llm": reply, "tts": "dummy", "vad": "energy"}
    for stream_tts in (True, False):
        run = {"chinese_script": "simplified", "language": "zh", "stream_tts": stream_tts}
        pipe = CascadePipeline.from_config({**config, "run": run})
        turn = pipe.respond(Utterance(text="我的手機開不了機了。", emotion="sad"))
        assert turn.transcript.text == "我的手机开不了机了。"
        assert strip_tags(turn.response.text) == (REPLY_SIMPLIFIED, ["sigh"])
        assert turn.prompt[0]["content"].startswith("你是一个体贴的语音助手。")
    traditional = CascadePipeline.from_config({**config, "run": {"chinese_script": "traditional"}})
    assert traditional.respond(Utterance(text="我的手机", emotion="sad")).transcript.text == "我的手機"


@needs_opencc
def test_the_live_session_writes_its_transcripts_in_simplified_characters() -> None:
    class TraditionalASR:
        name = "traditional-asr"

        def __init__(self) -> None:
            self.languages: list[str | None] = []

        def transcribe(self, audio, language=None):
            self.languages.append(language)
            loud = np.sqrt(np.mean(audio.resample(16000).samples ** 2)) > 0.01
            return Transcript("我的手機開不了機了。" if loud else "", "zh", self.name, 0.01)

    reply = {"backend": "dummy", "params": {"reply": REPLY_TRADITIONAL}}
    run = {"chinese_script": "simplified", "language": "zh"}
    system = CascadePipeline.from_config(
        {"ser": "dummy", "asr": "dummy", "llm": reply, "tts": "dummy", "vad": "energy", "run": run}
    )
    asr = TraditionalASR()
    session = LiveSession(system, LiveConfig(vad="energy"), asr=asr, speed=8.0)
    try:
        steps = [Say(fakes.tone(1.2, frequency=220)), WaitFor("turn_done", 0.1)]
        events = list(session.run(scripted(session, steps, speed=8.0))) + session.finish()
    finally:
        session.close()
    final = next(e for e in events if e.kind == "transcript_final")
    assert final.text == "我的手机开不了机了。"
    assert set(asr.languages) == {"zh"}
    (turn,) = session.history.turns
    assert turn.transcript.text == "我的手机开不了机了。"
    assert strip_tags(turn.response.text)[0] == REPLY_SIMPLIFIED


def test_chinese_cues_are_the_same_events() -> None:
    assert normalise_cues("[笑] 真的吗？") == "[laugh] 真的吗？"
    assert normalise_cues("（叹气）好吧。") == "[sigh] 好吧。"
    assert normalise_cues("【咳嗽】抱歉。*清嗓子* 好的。") == "[cough] 抱歉。 [throat_clearing] 好的。"
    assert normalise_cues("太好了（微笑），恭喜你！") == "太好了，恭喜你！"  # no sound stands for a smile
    assert normalise_cues("这个价格（包括税）很贵") == "这个价格（包括税）很贵"  # an aside stays text


def test_a_strategy_without_chinese_words_falls_back_to_english() -> None:
    config = PipelineConfig.default()
    bare = {label: replace(strategy, languages={}) for label, strategy in config.strategies.items()}
    renderer = PromptRenderer(strategies=bare)
    messages = renderer.render("我很难过。", EmotionPrediction.certain("sad"), None, "zh").messages
    assert messages[0]["content"].startswith("你是一个体贴的语音助手。")
    assert config.strategies["sad"].instruction in messages[0]["content"]
    assert messages[-2]["content"] == config.strategies["sad"].example[1]
    events = [HeardEvent("laugh", 0.0, 1.0, 0.95, "before")]
    system = renderer.render("我很难过。", EmotionPrediction.certain("sad"), None, "zh", events).messages[0]["content"]
    assert system.endswith("你还听到用户说话前笑了。")
