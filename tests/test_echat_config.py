"""E-chat settings: defaults of the paper, validation messages that say how to fix, JSON round-trips."""

from __future__ import annotations

import json

import pytest

from emotionlayer.errors import ConfigError
from emotionlayer.labels import EMOTIONS
from emotionlayer.models.echat import ASR_PROMPT, REPLY_PROMPT, EChatConfig, TrainConfig, read_config_file


def test_defaults_follow_the_paper():
    stage1, stage2 = EChatConfig(stage=1), EChatConfig(stage=2)
    assert stage1.prompt == ASR_PROMPT == "Transcribe the speech."
    assert stage2.prompt == REPLY_PROMPT
    assert stage2.prompt.startswith("You are requested to provide a comforting response")
    assert (stage1.loss_weight, stage2.loss_weight) == (0.0, 0.1)
    assert not stage1.uses_emotion and stage2.uses_emotion
    assert stage1.stack_frames == 4 and stage1.labels == EMOTIONS
    assert EChatConfig(stage=2, emotion_loss_weight=0.3).loss_weight == 0.3


def test_round_trips_through_json():
    config = EChatConfig(encoder="base", stage=2, labels=("joy", "anger", "neutral"), connector_layers=0)
    assert config.labels == ("happy", "angry", "neutral")
    assert EChatConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    train = TrainConfig(batch_size=3, max_steps=10, mixed_precision="bf16")
    assert TrainConfig.from_dict(json.loads(json.dumps(train.to_dict()))) == train


@pytest.mark.parametrize(
    ("kwargs", "hint"),
    [
        ({"stage": 3}, "stage must be 1 or 2"),
        ({"connector_dim": 30, "connector_heads": 4}, "must divide connector_dim"),
        ({"stack_frames": 0}, "stack_frames"),
        ({"labels": ("happy",)}, "at least two"),
        ({"labels": ("happy", "bored")}, "Unknown emotion label"),
        ({"emotion_loss_weight": 1.5}, "emotion_loss_weight"),
        ({"stage": 2, "unfreeze_encoder": True}, "stage 1 only"),
        ({"dropout": 1.0}, "dropout"),
    ],
)
def test_bad_model_settings_say_how_to_fix(kwargs, hint):
    with pytest.raises(ConfigError, match=hint):
        EChatConfig(**kwargs)


def test_unknown_keys_are_named():
    with pytest.raises(ConfigError, match="connector_width"):
        EChatConfig.from_dict({"connector_width": 3})


def test_config_file_sections(tmp_path):
    file = tmp_path / "echat.json"
    file.write_text(json.dumps({"model": {"connector_layers": 4}, "train": {"batch_size": 16}}))
    assert read_config_file(file) == ({"connector_layers": 4}, {"batch_size": 16})
    file.write_text(json.dumps({"optimizer": {}}))
    with pytest.raises(ConfigError, match="'model' and/or 'train'"):
        read_config_file(file)
    file.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        read_config_file(file)
    with pytest.raises(ConfigError, match="does not exist"):
        read_config_file(tmp_path / "missing.json")
