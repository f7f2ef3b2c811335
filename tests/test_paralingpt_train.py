"""The ParalinGPT trainer on tiny random backbones: manifests, learning, repeatability, resume."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("accelerate")
pytest.importorskip("tokenizers")

from emotionlayer.config import PipelineConfig  # noqa: E402
from emotionlayer.errors import ConfigError  # noqa: E402
from emotionlayer.models.common.checkpoint import list_checkpoints, load_weights  # noqa: E402
from emotionlayer.models.common.config import TrainConfig  # noqa: E402
from emotionlayer.models.common.features import load_samples  # noqa: E402
from emotionlayer.models.paralingpt import ParalinGPTConfig, train_paralingpt  # noqa: E402
from emotionlayer.models.paralingpt.checkpoint import read_config  # noqa: E402
from emotionlayer.models.paralingpt.data import load_examples  # noqa: E402
from emotionlayer.models.paralingpt.inference import ParalinGPT  # noqa: E402
from emotionlayer.models.paralingpt.model import pool_layers  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models run fastest on one thread


@pytest.fixture(scope="module")
def setup(tiny_models):
    return {
        "llm": tiny_models.paralingpt_llm,
        "encoder": tiny_models.encoder,
        "manifest": tiny_models.manifest,
    }


def _model(setup, **extra):
    return ParalinGPTConfig(**{"encoder": setup["encoder"], "llm": setup["llm"], "projection_dim": 16, **extra})


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


def test_examples_take_the_response_emotion_from_the_strategies(setup, tmp_path):
    examples = load_examples(setup["manifest"], ParalinGPTConfig().labels)
    strategies = PipelineConfig.default()
    assert [e.emotion for e in examples] == ["happy", "sad", "angry", "neutral"]
    assert [e.response_emotion for e in examples] == [
        strategies.strategy_for(e.emotion).style.emotion for e in examples
    ]
    assert examples[1].response_emotion == "calm"  # a calm voice for a sad user
    assert examples[0].transcript == "kids are talking by the door" and examples[0].reply == "That is wonderful news!"
    clip = examples[0].path
    given = tmp_path / "given.csv"
    given.write_text(f"path,text,emotion,reply,response_emotion\n{clip},hi,sad,There there.,happy\n")
    assert load_examples(given, ParalinGPTConfig().labels)[0].response_emotion == "happy"


@pytest.mark.parametrize(
    ("header", "row", "message"),
    [
        ("path,text,reply", "{clip},hi,Hello.", "no emotion"),
        ("path,text,emotion", "{clip},hi,sad", "no reply"),
        ("path,text,emotion,reply", "{clip},hi,calm,Hello.", "not among the model's labels"),
    ],
)
def test_manifest_rows_without_what_the_target_needs_are_refused(setup, tmp_path, header, row, message):
    clip = load_examples(setup["manifest"], ParalinGPTConfig().labels)[0].path
    bad = tmp_path / "bad.csv"
    bad.write_text(f"{header}\n{row.format(clip=clip)}\n")
    with pytest.raises(ConfigError, match=message):
        load_examples(bad, ("neutral", "sad", "happy"))


def test_loss_falls_on_a_few_examples(setup, tmp_path):
    result = train_paralingpt(
        setup["manifest"],
        tmp_path / "run",
        _model(setup, dropout=0.0),
        _train(tmp_path, max_steps=30, batch_size=4, save_every=0, learning_rate=2e-2),
        progress=False,
    )
    assert result.steps == 30 and len(result.losses) == 30
    first, last = sum(result.losses[:3]) / 3, sum(result.losses[-3:]) / 3
    assert last < 0.95 * first, result.losses  # a random tiny LLM: 4 soft tokens only steer it a little
    assert sum(result.losses[-10:]) < sum(result.losses[10:20]), result.losses
    summary = json.loads((tmp_path / "run" / "training.json").read_text())
    assert summary["steps"] == 30 and summary["seconds_per_step"] > 0


def test_a_run_is_repeatable_and_saves_only_the_adapter(setup, tmp_path):
    a = train_paralingpt(
        setup["manifest"], tmp_path / "a", _model(setup), _train(tmp_path, max_steps=3), progress=False
    )
    b = train_paralingpt(
        setup["manifest"], tmp_path / "b", _model(setup), _train(tmp_path, max_steps=3), progress=False
    )
    assert a.losses == b.losses
    weights, other = load_weights(tmp_path / "a"), load_weights(tmp_path / "b")
    assert {name.split(".")[0] for name in weights} == {"layer_weights", "projector"}
    assert all(torch.equal(weights[k], other[k]) for k in weights)
    assert read_config(tmp_path / "a") == (_model(setup), _train(tmp_path, max_steps=3))
    assert not list((tmp_path / "a").rglob("*.pt")) and not list((tmp_path / "a").rglob("*.bin"))
    assert (a.cache_misses, b.cache_hits) == (4, 4)  # the second run reads the cached features


def test_standardised_features_use_the_training_statistics(setup, tmp_path):
    config = _model(setup, standardise=True)
    train_paralingpt(setup["manifest"], tmp_path / "a", config, _train(tmp_path, max_steps=2), progress=False)
    weights = load_weights(tmp_path / "a")
    assert {"feature_mean", "feature_std"} <= set(weights)
    examples = load_examples(setup["manifest"], ParalinGPTConfig().labels)
    model = ParalinGPT.from_pretrained(tmp_path / "a", device="cpu").model
    pooled = torch.stack([pool_layers(*model.encoder([torch.from_numpy(load_samples(e.path))]))[0] for e in examples])
    assert torch.allclose(weights["feature_mean"], pooled.mean(0), atol=2e-2)
    assert torch.allclose(weights["feature_std"], pooled.std(0, unbiased=False).clamp(min=1e-4), atol=2e-2)


def test_resume_after_a_kill_continues_the_same_run(setup, tmp_path, kill_at):
    config, train = _model(setup), _train(tmp_path, max_steps=6, save_every=2, grad_accum_steps=2, batch_size=1)
    straight = train_paralingpt(setup["manifest"], tmp_path / "straight", config, train, progress=False)

    with pytest.raises(kill_at.Killed):
        train_paralingpt(setup["manifest"], tmp_path / "resumed", config, train, progress=False, callback=kill_at(3))
    assert [p.name for p in list_checkpoints(tmp_path / "resumed")] == ["step-00000002"]
    with pytest.raises(ConfigError, match="--resume"):
        train_paralingpt(setup["manifest"], tmp_path / "resumed", config, train, progress=False)
    with pytest.raises(ConfigError, match="settings differ"):
        train_paralingpt(
            setup["manifest"], tmp_path / "resumed", config, _train(tmp_path, max_steps=7), resume=True, progress=False
        )
    resumed = train_paralingpt(setup["manifest"], tmp_path / "resumed", config, train, resume=True, progress=False)
    assert resumed.resumed_from == 2
    assert resumed.losses == pytest.approx(straight.losses, rel=1e-6, abs=1e-7)
    final_a, final_b = load_weights(tmp_path / "straight"), load_weights(tmp_path / "resumed")
    assert all(torch.allclose(final_a[k], final_b[k], atol=1e-6) for k in final_a)
    assert len(list_checkpoints(tmp_path / "resumed")) <= train.keep_checkpoints


def test_the_prefix_warm_up_and_auxiliary_loss_teach_the_prefix_the_emotions(setup, tmp_path, kill_at):
    from emotionlayer.models.paralingpt.data import ParalinGPTDataset
    from emotionlayer.models.paralingpt.model import build_model
    from emotionlayer.models.paralingpt.warmup import clip_pooled_features, warm_up_prefix

    with pytest.raises(ConfigError, match="standardise"):
        _model(setup, prefix_warmup_steps=10)
    config = _model(setup, standardise=True, emotion_aux_weight=0.5, prefix_warmup_steps=200, dropout=0.0)
    torch.manual_seed(0)
    model = build_model(config)
    data = ParalinGPTDataset(load_examples(setup["manifest"], config.labels), model)
    model.set_feature_stats(*(lambda p: (p.mean(0), p.std(0, unbiased=False)))(clip_pooled_features(model, data)))
    frozen = {n: p.clone() for n, p in model.named_parameters() if not p.requires_grad}
    losses = warm_up_prefix(model, data, _train(tmp_path, batch_size=4, learning_rate=1e-2))
    assert len(losses) == 200 and losses[-1] < 0.1 * losses[0], losses[::20]
    assert all(torch.equal(p, frozen[n]) for n, p in model.named_parameters() if n in frozen)  # the LLM, encoder
    logits = model.emotion_logits(model.prefix_of_pooled(clip_pooled_features(model, data)))
    assert logits.argmax(1).tolist() == data.emotions  # the prefix now tells the four clips' emotions apart

    # in a run: the classifier is saved, the auxiliary loss is part of the loss, and a resume repeats the run
    train = _train(tmp_path, max_steps=4, save_every=2, batch_size=2)
    straight = train_paralingpt(setup["manifest"], tmp_path / "straight", config, train, progress=False)
    assert "emotion_head.weight" in load_weights(tmp_path / "straight")
    with pytest.raises(kill_at.Killed):
        train_paralingpt(setup["manifest"], tmp_path / "resumed", config, train, progress=False, callback=kill_at(3))
    resumed = train_paralingpt(setup["manifest"], tmp_path / "resumed", config, train, resume=True, progress=False)
    assert resumed.losses == pytest.approx(straight.losses, rel=1e-6, abs=1e-7)
    reloaded = ParalinGPT.from_pretrained(tmp_path / "straight", device="cpu")
    assert reloaded.config.emotion_aux_weight == 0.5


def test_the_auxiliary_loss_is_added_to_the_language_model_loss(setup):
    from emotionlayer.models.paralingpt.data import ParalinGPTDataset, collate
    from emotionlayer.models.paralingpt.model import build_model

    config = _model(setup, emotion_aux_weight=0.5, dropout=0.0)
    torch.manual_seed(0)
    model = build_model(config)
    data = ParalinGPTDataset(load_examples(setup["manifest"], config.labels), model)
    batch = collate([data[i] for i in range(len(data))])
    out = model(batch)
    assert float(out.emotion) > 0 and float(out.loss.detach()) == pytest.approx(
        float(out.language) + 0.5 * float(out.emotion)
    )
    out.loss.backward()
    assert model.emotion_head.weight.grad is not None and model.projector.net[1].weight.grad.abs().sum() > 0
    plain = build_model(_model(setup))
    assert not hasattr(plain, "emotion_head")  # the paper's model (and the packaged checkpoint) has none
