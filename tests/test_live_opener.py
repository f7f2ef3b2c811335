"""The reply's opener (``run.opener``): spoken first from audio made ahead of time, continued by the LLM.

The LLM is the packaged SmolLM2 (with its reply-writer adapter) through llama.cpp, decoding greedily; the
voice is the packaged piper where the audio matters.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("llama_cpp")

from test_live_session import WORDS, ToneASR, run  # noqa: E402
from test_reply_writer import write_styletalk  # noqa: E402

import emotionlayer.testing as fakes  # noqa: E402
from emotionlayer.components.llm._reply import join_reply  # noqa: E402
from emotionlayer.components.llm.llamacpp import LlamaCppLLM  # noqa: E402
from emotionlayer.config import PipelineConfig  # noqa: E402
from emotionlayer.errors import ConfigError  # noqa: E402
from emotionlayer.live import LiveConfig, LiveSession  # noqa: E402
from emotionlayer.live.sources import Say, WaitFor  # noqa: E402
from emotionlayer.pipeline import CascadePipeline, pick_opener  # noqa: E402
from emotionlayer.prompting import PromptRenderer  # noqa: E402
from emotionlayer.types import Dialogue, EmotionPrediction, Response, Transcript, Turn, Utterance  # noqa: E402

LLM = {"backend": "llama-cpp", "params": {"adapter": "packaged", "temperature": 0.0, "target_tokens": 30}}


def config(opener: bool, **parts) -> dict:
    data = PipelineConfig.default().to_dict()
    data["run"]["opener"] = opener
    data["llm"] = LLM
    for kind, backend in parts.items():
        data[kind] = {"backend": backend, "params": {}}
    return data


@pytest.fixture(scope="module")
def llm():
    return LlamaCppLLM(**LLM["params"])


def sad_prompt():
    return PromptRenderer().render("I missed my bus again and I'll be late.", EmotionPrediction.certain("sad"))


def test_the_llm_continues_a_reply_from_its_opener_without_repeating_it(llm):
    prompt = sad_prompt()
    assert llm.can_continue()
    tokens = llm._continuation_prompt(llm._load()[0], prompt.messages, "Oh no.")
    text = llm._load()[0].detokenize(tokens, special=True).decode()
    assert text.endswith("<|im_start|>assistant\nOh no.")  # the opener is the start of the assistant's turn
    continuation = llm.generate(prompt.messages, prefix="Oh no.")
    assert continuation and continuation == continuation.strip()
    assert not continuation.lower().startswith(("oh no", "oh,")), continuation
    assert "".join(llm.stream_generate(prompt.messages, prefix="Oh no.")) == continuation
    assert llm.generate(prompt.messages) != continuation  # without the opener the model starts on its own
    assert llm.generate(prompt.messages, prefix="") == llm.generate(prompt.messages)


def test_an_llm_that_cannot_continue_a_reply_answers_without_an_opener():
    dummy = config(True, ser="dummy", asr="dummy", tts="dummy", vad="energy")
    dummy["llm"] = {"backend": "dummy", "params": {}}
    pipeline = CascadePipeline.from_config(dummy)
    assert not pipeline.can_continue() and pipeline.prime_openers() == 0
    events = list(pipeline.stream(sad_words()))
    assert not any(getattr(e, "opener", False) for e in events) and events[-1].turn.response.opener == ""


def test_join_reply_puts_a_space_only_where_one_belongs():
    assert join_reply("Oh no.", "I'm sorry.") == "Oh no. I'm sorry."
    assert join_reply("Oh no", ", that's bad.") == "Oh no, that's bad."
    assert join_reply("哎呀。", "真抱歉。") == "哎呀。真抱歉。"
    assert join_reply("Wow!", "") == "Wow!"


def test_openers_come_from_the_config_per_strategy_and_language():
    strategies = PipelineConfig.default().strategies
    assert strategies["sad"].openers and strategies["happy"].openers != strategies["sad"].openers
    assert strategies["sad"].in_language("zh").openers != strategies["sad"].openers
    data = PipelineConfig.default().to_dict()
    data["strategies"]["sad"]["openers"] = ["Oh dear."]
    data["strategies"]["sad"]["languages"] = {"fr": {"openers": ["Oh non."]}}
    custom = PipelineConfig.coerce(data)
    assert custom.strategies["sad"].openers == ("Oh dear.",)
    assert custom.strategies["sad"].in_language("fr-FR").openers == ("Oh non.",)
    assert PipelineConfig.coerce(custom.to_dict()) == custom
    data["strategies"]["sad"]["openers"] = "Oh dear."
    with pytest.raises(ConfigError, match="list of short phrases"):
        PipelineConfig.coerce(data)
    assert PipelineConfig.default().run.opener is True and PipelineConfig.coerce({}).run.opener is True


def test_openers_take_turns_along_a_conversation():
    said = Turn(Transcript("Hi."), EmotionPrediction.certain("sad"), response=Response("Hello."))
    assert pick_opener(("Oh no.", "I'm sorry."), None) == "Oh no."
    assert pick_opener(("Oh no.", "I'm sorry."), Dialogue((said,))) == "I'm sorry."
    assert pick_opener((), None) == ""


def sad_words():
    return Utterance(audio=fakes.tone(1.0), text="I missed my bus again and I'll be late.", emotion="sad")


def test_the_opener_is_the_first_audio_and_the_llm_writes_the_rest():
    pipeline = CascadePipeline.from_config(config(True))
    pipeline.warmup()
    kept = len(pipeline._opener_audio)
    assert kept >= sum(len(s.openers) for s in pipeline.config.strategies.values())  # synthesised at warm-up
    events = list(pipeline.stream(sad_words()))
    audio = [e for e in events if e.kind == "audio"]
    texts = [e for e in events if e.kind == "text"]
    turn = events[-1].turn
    opener = pipeline.config.strategies["sad"].openers[0]
    assert audio[0].opener and audio[0].text == opener and not any(e.opener for e in audio[1:]) and len(audio) > 1
    assert texts[0].opener and texts[0].text == opener
    assert audio[0].audio is pipeline.opener_audio(opener, turn.response.style)  # the audio made at warm-up
    assert len(pipeline._opener_audio) == kept
    assert turn.response.opener == opener and turn.response.text.startswith(opener + " ")
    rest = turn.response.text[len(opener) :].strip()
    assert rest and not rest.lower().startswith(opener.lower().rstrip(".!"))  # not said twice
    assert "".join(e.text for e in texts) == turn.response.text
    assert turn.timings["time_to_first_audio"] <= turn.timings["time_to_first_llm_audio"]
    assert turn.audio.duration > audio[0].audio.duration
    assert turn.to_dict()["response"]["opener"] == opener


def test_with_the_opener_off_a_turn_is_as_before():
    on = CascadePipeline.from_config(config(True))
    off = CascadePipeline.from_config(config(False))
    assert off.opener_for(off.render_prompt("Hello.", EmotionPrediction.certain("sad"))) == ""
    events = list(off.stream(sad_words()))
    turn = events[-1].turn
    assert not any(getattr(e, "opener", False) for e in events)
    assert turn.response.opener == "" and "opener" not in turn.to_dict()["response"]
    assert "time_to_first_llm_audio" not in turn.timings
    prompt = off.render_prompt(Transcript("I missed my bus again and I'll be late."), EmotionPrediction.certain("sad"))
    assert turn.response.text == off.generate(prompt)  # the LLM's own reply, from its first word
    assert on.respond(sad_words()).response.text != turn.response.text


def test_a_live_turn_plays_the_opener_first_and_reports_both_first_audios():
    pipeline = CascadePipeline.from_config(config(True, ser="dummy", asr="dummy", tts="dummy", vad="energy"))
    session = LiveSession(pipeline, LiveConfig(vad="energy"), asr=ToneASR(WORDS), speed=8.0)
    session.warmup()
    events = run(session, [Say(fakes.tone(1.0, frequency=220)), WaitFor("turn_done", 0.1)])
    audio = [e for e in events if e.kind == "reply_audio"]
    assert audio[0].opener and not any(e.opener for e in audio[1:]) and len(audio) > 1
    assert audio[0].to_dict()["opener"] is True and "opener" not in audio[1].to_dict()
    kinds = [e.kind for e in events]
    assert kinds.index("playback_started") < kinds.index("latency") < kinds.index("turn_done")
    latency = next(e for e in events if e.kind == "latency").relative()
    assert latency["first_audio"] < latency["first_llm_audio"]  # the LLM's words play after the opener
    record = next(e for e in events if e.kind == "turn_done").record
    assert record.response.opener == audio[0].text
    assert record.response.text.startswith(audio[0].text + " ") and len(record.response.text) > len(audio[0].text)
    summary = session.latency_summary()
    assert summary["first_llm_audio"]["n"] == summary["first_audio"]["n"] == 1


def test_without_an_opener_the_first_llm_audio_is_the_first_audio():
    pipeline = CascadePipeline.from_config(config(False, ser="dummy", asr="dummy", tts="dummy", vad="energy"))
    session = LiveSession(pipeline, LiveConfig(vad="energy"), asr=ToneASR(WORDS), speed=8.0)
    events = run(session, [Say(fakes.tone(1.0, frequency=220)), WaitFor("turn_done", 0.1)])
    assert not any(e.opener for e in events if e.kind == "reply_audio")
    latency = next(e for e in events if e.kind == "latency").relative()
    assert latency["first_llm_audio"] == latency["first_audio"]


def test_the_styletalk_evaluation_scores_a_variant_with_the_opener(tmp_path):
    from emotionlayer.data.styletalk import read_styletalk
    from emotionlayer.evaluation.styletalk import TextTopline, variants

    chosen = variants({"llm": LLM}, openers=["off", "on"])
    assert [v.name for v in chosen] == ["opener=off", "opener=on"]
    assert [v.config.run.opener for v in chosen] == [False, True]
    with pytest.raises(ConfigError):
        variants(None, openers=["maybe"])
    row = read_styletalk(write_styletalk(tmp_path / "train.csv"))[1]  # sad
    off, on = TextTopline(chosen[0].config), TextTopline(chosen[1].config)
    plain, strategy, _ = off.reply(row)
    opened, same, _ = on.reply(row)
    opener = pick_opener(chosen[1].config.strategies[row.emotion].openers, row.history())
    prompt = on.renderer.render(row.text, row.emotion_prediction(), row.history())
    assert strategy == same and opened.startswith(opener + " ")
    assert opened == join_reply(opener, on.llm.generate(prompt.messages, prefix=opener))
    assert plain == off.llm.generate(prompt.messages)


def test_an_openers_silence_is_cut_to_a_short_pause():
    from emotionlayer.pipeline import OPENER_LEAD_SECONDS, OPENER_TAIL_SECONDS, trim_silence
    from emotionlayer.types import Audio

    rate = 16000
    voice = fakes.tone(0.3, sample_rate=rate).samples
    padded = Audio(np.concatenate([np.zeros(rate // 5, np.float32), voice, np.zeros(rate // 2, np.float32)]), rate)
    cut = trim_silence(padded)
    assert cut.duration == pytest.approx(0.3 + OPENER_LEAD_SECONDS + OPENER_TAIL_SECONDS, abs=0.002)
    silent = Audio(np.zeros(rate, np.float32), rate)
    assert trim_silence(silent) is silent
    pipeline = CascadePipeline.from_config(config(True, ser="dummy", asr="dummy", vad="energy"))
    style = pipeline.config.strategies["sad"].style
    spoken, kept = pipeline.speak("Oh,", style), pipeline.opener_audio("Oh,", style)
    assert 0 < kept.duration < spoken.duration  # piper's own silence around the word is cut


def test_the_live_command_switches_the_opener_on_and_off(monkeypatch, capsys, tmp_path):
    import json

    import yaml
    from test_cli import run as cli_run

    from emotionlayer.audio import save_audio

    clip = tmp_path / "turn.wav"
    save_audio(fakes.tone(1.0, frequency=220), clip)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(config(False, ser="dummy", asr="dummy", tts="dummy", vad="energy")))
    args = ["live", "--input", str(clip), "--config", str(cfg), "--vad", "energy", "--no-speaker", "--json"]
    texts = {}
    for flag in ("--opener", "--no-opener"):
        code, out, err = cli_run(monkeypatch, capsys, *args, "--speed", "8", flag)
        assert code == 0, err
        events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        texts[flag] = [e for e in events if e["kind"] == "reply_text"]
        assert texts[flag], out
    assert texts["--opener"][0].get("opener") is True  # the config says off; the flag turns it on
    assert not any(e.get("opener") for e in texts["--no-opener"])
