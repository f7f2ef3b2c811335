import json

import pytest

from emotionlayer.config import PipelineConfig
from emotionlayer.errors import ConfigError
from emotionlayer.labels import EMOTIONS


def test_default_config_is_complete_and_round_trips(tmp_path):
    cfg = PipelineConfig.default()
    assert cfg.asr.backend == "faster-whisper" and cfg.llm.backend == "llama-cpp"
    assert set(cfg.strategies) == set(EMOTIONS)
    for fmt in ("yaml", "json"):
        path = tmp_path / f"c.{fmt}"
        cfg.save(path)
        assert PipelineConfig.load(path) == cfg


def test_partial_config_keeps_defaults_and_swaps_a_component(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(
        "llm:\n  backend: openai\n  params: {base_url: 'http://127.0.0.1:9/v1'}\nstrategies:\n  sad: {instruction: "
        "Be very gentle.}\n"
    )
    cfg = PipelineConfig.load(path)
    assert cfg.llm.backend == "openai" and cfg.llm.params == {"base_url": "http://127.0.0.1:9/v1"}
    assert cfg.asr == PipelineConfig.default().asr
    assert cfg.strategies["sad"].instruction == "Be very gentle."
    assert cfg.strategies["sad"].name == "comfort"  # merged per emotion
    swapped = cfg.with_component("tts", "espeak-ng", voice="en-us")
    assert swapped.tts.params == {"voice": "en-us"} and cfg.tts.backend == "piper"


def test_yaml_tags_cannot_construct_objects(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("ser: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(ConfigError, match="Could not parse"):
        PipelineConfig.load(path)


@pytest.mark.parametrize(
    "data, message",
    [
        ({"sr": {}}, "Unknown config sections"),
        ({"asr": {"params": {}}}, "needs a 'backend'"),
        ({"asr": {"backend": "x", "parms": {}}}, "unknown keys"),
        ({"run": {"max_second": 3}}, "valid keys"),
        ({"run": {}, "pipeline": {}}, "old name of 'run'"),
        ({"strategies": {"bored": {}}}, "Unknown emotion label"),
    ],
)
def test_bad_configs_say_what_is_wrong(data, message):
    with pytest.raises(ConfigError, match=message):
        PipelineConfig.from_dict(data)


def test_json_config_and_shorthand(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"asr": "dummy"}))
    assert PipelineConfig.load(path).asr.backend == "dummy"


def test_the_old_pipeline_section_is_read_as_run_with_a_deprecation_message(tmp_path):
    path = tmp_path / "old.yaml"
    path.write_text("pipeline:\n  max_seconds: 30\n  event_bank: [bank]\n")
    with pytest.warns(FutureWarning, match="'pipeline' is now called 'run'"):
        cfg = PipelineConfig.load(path)
    assert cfg.run.max_seconds == 30 and cfg.run.stream_tts == PipelineConfig.default().run.stream_tts
    assert cfg.run.event_bank == (str((tmp_path / "bank").resolve()),)
    assert "pipeline" not in cfg.to_dict() and cfg.to_dict()["run"]["max_seconds"] == 30
    with pytest.warns(DeprecationWarning, match="now PipelineConfig.run"):
        assert cfg.pipeline is cfg.run


def test_the_no_speech_threshold_has_one_default():
    from emotionlayer.audio import NO_SPEECH_THRESHOLD
    from emotionlayer.config import RunConfig

    assert RunConfig().no_speech_threshold == NO_SPEECH_THRESHOLD
    assert PipelineConfig.default().run.no_speech_threshold == NO_SPEECH_THRESHOLD
