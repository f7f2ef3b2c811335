"""The E-chat trainer on tiny random backbones: learning, checkpoints, resume, feature cache, batches."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("accelerate")
pytest.importorskip("tokenizers")

from emotionlayer.errors import ConfigError  # noqa: E402
from emotionlayer.models.common.backbones import load_speech_encoder  # noqa: E402
from emotionlayer.models.common.checkpoint import list_checkpoints, load_weights  # noqa: E402
from emotionlayer.models.common.features import FeatureCache, load_samples  # noqa: E402
from emotionlayer.models.echat import EChatConfig, TrainConfig, train_echat  # noqa: E402
from emotionlayer.models.echat.checkpoint import read_config  # noqa: E402
from emotionlayer.models.echat.data import EChatDataset, load_examples  # noqa: E402
from emotionlayer.models.echat.train import echat_recipe, warm_up  # noqa: E402

SMALL = {"connector_dim": 32, "connector_heads": 2, "connector_ff_dim": 64, "emotion_hidden_dim": 16}


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models run fastest on one thread


@pytest.fixture(scope="module")
def setup(tiny_models):
    return {
        "llm": tiny_models.llm(initializer_range=0.2),  # reacts to its inputs: loss can fall
        "encoder": tiny_models.encoder,
        "manifest": tiny_models.manifest,
    }


def _model(setup, stage=1, **extra):
    return EChatConfig(**{"encoder": setup["encoder"], "llm": setup["llm"], "stage": stage, **SMALL, **extra})


def _train(tmp_path, **extra):
    values = {
        "batch_size": 2,
        "learning_rate": 3e-3,
        "warmup_steps": 2,
        "max_steps": 6,
        "save_every": 2,
        "cache_dir": str(tmp_path / "cache"),
        "seed": 1,
    }
    values.update(extra)
    return TrainConfig(**values)


def test_loss_falls_on_a_few_examples(setup, tmp_path):
    result = train_echat(
        setup["manifest"],
        tmp_path / "run",
        _model(setup, dropout=0.0),
        _train(tmp_path, max_steps=30, batch_size=4, save_every=0),
        progress=False,
    )
    assert result.steps == 30 and len(result.losses) == 30
    first, last = sum(result.losses[:3]) / 3, sum(result.losses[-3:]) / 3
    assert last < 0.85 * first, result.losses
    assert sum(result.losses[-10:]) < sum(result.losses[10:20]), result.losses
    summary = json.loads((tmp_path / "run" / "training.json").read_text())
    assert summary["steps"] == 30 and summary["seconds_per_step"] > 0


def test_a_run_is_repeatable_and_saves_only_trainable_weights(setup, tmp_path):
    a = train_echat(setup["manifest"], tmp_path / "a", _model(setup), _train(tmp_path, max_steps=3), progress=False)
    b = train_echat(setup["manifest"], tmp_path / "b", _model(setup), _train(tmp_path, max_steps=3), progress=False)
    assert a.losses == b.losses
    weights = load_weights(tmp_path / "a")
    assert {name.split(".")[0] for name in weights} == {"speech_weights", "connector"}
    wb = load_weights(tmp_path / "b")
    assert all(torch.equal(weights[k], wb[k]) for k in weights)
    model_config, train_config = read_config(tmp_path / "a")
    assert model_config == _model(setup) and train_config == _train(tmp_path, max_steps=3)
    assert not list((tmp_path / "a").rglob("*.pt")) and not list((tmp_path / "a").rglob("*.bin"))


def test_resume_after_a_kill_continues_the_same_run(setup, tmp_path, kill_at):
    config, train = (
        _model(setup, stage=2),
        _train(tmp_path, max_steps=6, save_every=2, grad_accum_steps=2, batch_size=1),
    )
    straight = train_echat(setup["manifest"], tmp_path / "straight", config, train, progress=False)

    with pytest.raises(kill_at.Killed):
        train_echat(setup["manifest"], tmp_path / "resumed", config, train, progress=False, callback=kill_at(3))
    assert [p.name for p in list_checkpoints(tmp_path / "resumed")] == ["step-00000002"]
    with pytest.raises(ConfigError, match="--resume"):
        train_echat(setup["manifest"], tmp_path / "resumed", config, train, progress=False)
    with pytest.raises(ConfigError, match="settings differ"):
        train_echat(
            setup["manifest"], tmp_path / "resumed", config, _train(tmp_path, max_steps=7), resume=True, progress=False
        )
    resumed = train_echat(setup["manifest"], tmp_path / "resumed", config, train, resume=True, progress=False)
    assert resumed.resumed_from == 2
    assert resumed.losses == pytest.approx(straight.losses, rel=1e-6, abs=1e-7)
    final_a, final_b = load_weights(tmp_path / "straight"), load_weights(tmp_path / "resumed")
    assert all(torch.allclose(final_a[k], final_b[k], atol=1e-6) for k in final_a)
    assert len(list_checkpoints(tmp_path / "resumed")) <= train.keep_checkpoints


def test_stage_2_starts_from_a_stage_1_model(setup, tmp_path):
    train_echat(setup["manifest"], tmp_path / "s1", _model(setup), _train(tmp_path, max_steps=2), progress=False)
    stage1 = load_weights(tmp_path / "s1")
    result = train_echat(
        setup["manifest"],
        tmp_path / "s2",
        _model(setup, stage=2),
        _train(tmp_path, max_steps=1, learning_rate=1e-9, warmup_steps=0),
        init=tmp_path / "s1",
        progress=False,
    )
    assert result.steps == 1
    stage2 = load_weights(tmp_path / "s2")
    assert {"emotion_weights.logits", "speech_weights.logits"} <= set(stage2)
    assert torch.allclose(stage2["speech_weights.logits"], stage1["speech_weights.logits"], atol=1e-5)
    with pytest.raises(ConfigError, match="encoder"):
        train_echat(
            setup["manifest"],
            tmp_path / "s2b",
            _model(setup, stage=2, encoder="tiny.en"),
            _train(tmp_path),
            init=tmp_path / "s1",
            progress=False,
        )


def test_the_recipe_names_its_stage_and_caches_features_only_for_a_frozen_encoder():
    unfrozen = echat_recipe(EChatConfig(stage=1, unfreeze_encoder=True))
    assert unfrozen.label == "E-chat stage 1" and not unfrozen.cache_features and unfrozen.find_unused_parameters
    frozen = echat_recipe(EChatConfig(stage=2))
    assert frozen.label == "E-chat stage 2" and frozen.cache_features and not frozen.find_unused_parameters
    warm_up(EChatConfig(stage=2, emotion_warmup_steps=0), None, None, None, False)  # no warm-up touches nothing


def test_feature_cache_is_used_on_the_second_pass(setup, tmp_path):
    first = train_echat(
        setup["manifest"], tmp_path / "one", _model(setup), _train(tmp_path, max_steps=1), progress=False
    )
    second = train_echat(
        setup["manifest"], tmp_path / "two", _model(setup), _train(tmp_path, max_steps=1), progress=False
    )
    assert (first.cache_misses, first.cache_hits) == (4, 0)
    assert (second.cache_misses, second.cache_hits) == (0, 4)
    files = list((tmp_path / "cache").rglob("*.safetensors"))
    assert len(files) == 4 and not list((tmp_path / "cache").rglob(".tmp-*"))


def test_feature_cache_recomputes_a_torn_file_and_matches_the_encoder(setup, tmp_path):
    encoder = load_speech_encoder(setup["encoder"])
    cache = FeatureCache(tmp_path / "cache", encoder)
    examples = load_examples(setup["manifest"], stage=1)
    keys = cache.prepare(examples)
    dataset = EChatDataset(examples, [[1]] * len(examples), ("neutral", "happy"), cache=cache, keys=keys)
    expected = encoder.encode_one(load_samples(examples[0].path))
    assert torch.allclose(dataset[0]["states"].float(), expected, atol=2e-3)  # stored as float16
    cache.file(keys[examples[0].id]).write_bytes(b"torn")
    assert torch.allclose(dataset[0]["states"].float(), expected, atol=2e-3)
    assert dataset[0]["emotion"] == 1 and dataset[1]["emotion"] == -100  # happy; sad is not a label here
    other = FeatureCache(tmp_path / "cache", load_speech_encoder(setup["encoder"], trainable=True))
    assert other.key(examples[0].path) == cache.key(examples[0].path)  # same weights, same key


def test_stage_targets_come_from_text_and_reply(setup, tmp_path):
    assert [e.target for e in load_examples(setup["manifest"], 1)][:2] == [
        "kids are talking by the door",
        "dogs are sitting by the door",
    ]
    assert load_examples(setup["manifest"], 2)[0].target == "That is wonderful news!"
    bad = tmp_path / "bad.csv"
    bad.write_text("path,text\n" + str(load_examples(setup["manifest"], 1)[0].path) + ",hi\n")
    with pytest.raises(ConfigError, match="reply"):
        load_examples(bad, 2)
    with pytest.raises(ConfigError, match="at most 0.2 s"):
        load_examples(setup["manifest"], 1, max_seconds=0.2)


def test_emotion_warmup_trains_only_the_emotion_branch(setup, tmp_path):
    from emotionlayer.models.echat.data import collate
    from emotionlayer.models.echat.model import build_model
    from emotionlayer.models.echat.warmup import clip_layer_means, warm_up_emotion

    config = _model(setup, stage=2, dropout=0.0)
    model = build_model(config)
    examples = load_examples(setup["manifest"], 2)
    dataset = EChatDataset(examples, [model.target_ids(e.target) for e in examples], config.labels)
    means, labels = clip_layer_means(model, dataset, list(range(len(dataset))))
    batch = collate([dataset[i] for i in range(len(dataset))])
    with torch.no_grad():
        pooled = model.encode_speech(batch.states, batch.lengths, batch.waves).emotion_pooled
        assert torch.allclose(model.emotion_weights.mix(means.transpose(0, 1)), pooled, atol=1e-5)
    assert labels.tolist() == batch.emotion.tolist()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    losses = warm_up_emotion(model, dataset, _train(tmp_path, learning_rate=1e-2), steps=60)
    assert len(losses) == 60
    assert sum(losses[-10:]) < 0.7 * sum(losses[:10]), losses
    after = model.state_dict()
    changed = {k.split(".")[0] for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"emotion_weights", "emotion_head"}
    assert all(p.grad is None for p in model.parameters())
    with pytest.raises(ConfigError, match="stage 2"):
        warm_up_emotion(build_model(_model(setup)), dataset, _train(tmp_path), steps=2)


def test_emotion_warmup_runs_once_and_a_resumed_run_matches(setup, tmp_path, kill_at):
    config = _model(setup, stage=2, emotion_warmup_steps=5)
    train = _train(tmp_path, max_steps=4, save_every=2)
    plain_config = _model(setup, stage=2)
    plain = train_echat(
        setup["manifest"], tmp_path / "plain", plain_config, _train(tmp_path, max_steps=4), progress=False
    )
    straight = train_echat(setup["manifest"], tmp_path / "straight", config, train, progress=False)
    assert straight.losses != plain.losses  # the head started warmed up

    with pytest.raises(kill_at.Killed):
        train_echat(setup["manifest"], tmp_path / "resumed", config, train, progress=False, callback=kill_at(3))
    resumed = train_echat(setup["manifest"], tmp_path / "resumed", config, train, resume=True, progress=False)
    assert resumed.resumed_from == 2
    assert resumed.losses == pytest.approx(straight.losses, rel=1e-6, abs=1e-7)
    final_a, final_b = load_weights(tmp_path / "straight"), load_weights(tmp_path / "resumed")
    assert all(torch.allclose(final_a[k], final_b[k], atol=1e-6) for k in final_a)
