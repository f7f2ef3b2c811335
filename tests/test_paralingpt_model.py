"""ParalinGPT's model on tiny random backbones: shapes, what trains, label scoring, save/load."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from emotionlayer.errors import ConfigError, ModelNotFoundError  # noqa: E402
from emotionlayer.labels import EMOTIONS  # noqa: E402
from emotionlayer.models.paralingpt import ParalinGPTConfig  # noqa: E402
from emotionlayer.models.paralingpt.checkpoint import read_config, save_model_folder  # noqa: E402
from emotionlayer.models.paralingpt.inference import ParalinGPT  # noqa: E402
from emotionlayer.models.paralingpt.model import ParalinGPTBatch, build_model, mean_std_pool, pool_layers  # noqa: E402
from emotionlayer.testing import tone  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models run fastest on one thread


@pytest.fixture(scope="module")
def config(tiny_models):
    return ParalinGPTConfig(
        encoder=tiny_models.encoder,
        llm=tiny_models.paralingpt_llm,
        projection_dim=16,
    )


@pytest.fixture(scope="module")
def model(config):
    torch.manual_seed(0)
    return build_model(config)


def _batch(model, n=2):
    states, lengths = model.encoder([torch.randn(8000 + 1600 * i) * 0.1 for i in range(n)])
    prompts = [model.prompt_ids("kids are talking by the door"), model.prompt_ids("hello")][:n]
    targets = [
        model.target_ids("sad", "calm", "I am so sorry to hear that."),
        model.target_ids("happy", "happy", "Yes!"),
    ][:n]
    return ParalinGPTBatch(prompts, [t[0] for t in targets], [t[1] for t in targets], states=states, lengths=lengths)


def test_prefix_and_input_shapes(model, config):
    batch = _batch(model)
    prefix = model.encode_prefix(batch.states, batch.lengths)
    llm_dim = model.llm.get_input_embeddings().weight.shape[1]
    assert prefix.shape == (2, config.prefix_tokens, llm_dim)
    embeds, mask, labels, weights = model.build_inputs(prefix, batch.prompt_ids, batch.target_ids, batch.target_weights)
    widths = [
        1 + config.prefix_tokens + len(p) + len(t) for p, t in zip(batch.prompt_ids, batch.target_ids, strict=True)
    ]
    assert embeds.shape == (2, max(widths), llm_dim) and mask.sum(1).tolist() == widths
    assert [int((row != -100).sum()) for row in labels] == [len(t) for t in batch.target_ids]
    assert float(weights.sum()) == pytest.approx(sum(map(sum, batch.target_weights)))
    loss = model(batch)
    assert loss.tokens == sum(len(t) for t in batch.target_ids) and torch.isfinite(loss.loss)


def test_mean_std_pool_ignores_padding():
    frames = torch.tensor([[[1.0], [3.0], [100.0]]])
    pooled = mean_std_pool(frames, torch.tensor([2]))
    assert pooled[0, 0] == pytest.approx(2.0) and pooled[0, 1] == pytest.approx(1.0, abs=1e-4)
    states = torch.randn(3, 2, 7, 4)
    per_layer = pool_layers(states, torch.tensor([7, 5]))
    assert per_layer.shape == (2, 3, 8)
    assert torch.allclose(per_layer[1], pool_layers(states[:, 1:, :5], torch.tensor([5]))[0], atol=1e-5)


def test_standardised_features_use_the_stats(model, config):
    with pytest.raises(ConfigError, match="standardise"):
        model.set_feature_stats(torch.zeros(1), torch.ones(1))
    torch.manual_seed(0)
    standard = build_model(ParalinGPTConfig(**{**config.to_dict(), "standardise": True}))
    assert {"feature_mean", "feature_std"} <= set(standard.trainable_state_dict())
    assert not isinstance(standard.projector.net[0], torch.nn.LayerNorm)  # the inputs are standardised already
    batch = _batch(standard)
    pooled = standard.pooled_features(batch.states, batch.lengths)
    assert pooled.shape == (2, standard.encoder.num_hidden_states, 2 * standard.encoder.hidden_size)
    before = standard.encode_prefix(batch.states, batch.lengths)
    standard.set_feature_stats(pooled.mean(0), pooled.std(0))
    assert not torch.allclose(before, standard.encode_prefix(batch.states, batch.lengths))
    with pytest.raises(ConfigError, match="shape"):
        standard.set_feature_stats(pooled.mean(0)[:1], pooled.std(0))
    model(batch).loss.backward()


def test_the_target_starts_with_the_forced_emotion_field(model):
    ids, weights = model.target_ids("disgusted", "neutral", "Hmm.")
    forced = model.ids("emotion:") + model.ids(" disgusted") + model.ids(" |")
    assert ids[: len(forced)] == forced and ids[-1] == model.eos_ids[0]
    label = len(model.ids("emotion:"))
    assert weights[label : label + len(model.ids(" disgusted"))] == [model.config.emotion_weight] * len(
        model.ids(" disgusted")
    )
    long_ids, _ = model.target_ids("sad", "calm", "word " * 500)
    assert len(long_ids) == model.config.max_target_tokens


def test_only_the_adapter_trains(model):
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    assert names and {n.split(".")[0] for n in names} == {"layer_weights", "projector"}
    assert set(model.trainable_state_dict()) == names
    frozen = [p for n, p in model.named_parameters() if n.startswith(("encoder.", "llm."))]
    assert frozen and not any(p.requires_grad for p in frozen)
    model.zero_grad(set_to_none=True)
    model(_batch(model)).loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    assert set(grads) == names and float(grads["layer_weights.logits"].abs().sum()) > 0
    model.zero_grad(set_to_none=True)
    model.train()
    assert not model.llm.training and not model.encoder.training
    model.eval()


def test_label_scores_match_a_full_forward(model, config):
    prefix = model.encode_prefix(waves=[torch.from_numpy(tone(0.8).samples)])
    state = model.prefill(prefix, "hello")
    assert set(state.emotion_scores) == set(EMOTIONS)
    base = model.prompt_ids("hello") + model.ids("emotion:")
    assert len(model.ids(" disgusted")) > 1  # a label of several tokens is scored through the cache too
    with torch.inference_mode():
        for label in ("sad", "disgusted"):
            label_ids = model.ids(f" {label}")
            embeds, mask, _, _ = model.build_inputs(prefix, [base + label_ids])
            logp = torch.log_softmax(model.llm(inputs_embeds=embeds, attention_mask=mask).logits[0].float(), -1)
            start = embeds.shape[1] - len(label_ids) - 1
            expected = sum(float(logp[start + i, t]) for i, t in enumerate(label_ids))
            assert state.emotion_scores[label] == pytest.approx(expected, abs=1e-4)


def test_save_and_load_give_the_same_model(model, config, tmp_path):
    with torch.no_grad():
        for param in model.trainable_state_dict().values():
            param.add_(0.3 * torch.randn_like(param))
    save_model_folder(tmp_path / "m", model.trainable_state_dict(), config, None)
    assert read_config(tmp_path / "m")[0] == config
    loaded = ParalinGPT.from_pretrained(tmp_path / "m", device="cpu")
    for name, tensor in model.trainable_state_dict().items():
        assert torch.equal(loaded.model.trainable_state_dict()[name], tensor)
    original = ParalinGPT(model)
    a = original.reply(tone(1.0), "kids are talking by the door", max_new_tokens=8)
    b = loaded.reply(tone(1.0), "kids are talking by the door", max_new_tokens=8)
    assert a.raw == b.raw and a.emotion.probabilities == pytest.approx(b.emotion.probabilities)
    assert abs(sum(a.emotion.probabilities.values()) - 1) < 1e-9
    assert a.raw.startswith(f"emotion: {a.emotion.label} |")
    assert set(a.timings) == {"encode", "generate", "total"}
    assert not list(tmp_path.rglob("*.pt")) and not list(tmp_path.rglob("*.bin"))


def test_a_checkpoint_for_another_shape_is_refused(model, config, tmp_path):
    other = ParalinGPTConfig(**{**config.to_dict(), "prefix_tokens": 2})
    save_model_folder(tmp_path / "m", model.trainable_state_dict(), other, None)
    with pytest.raises(ConfigError, match="shape"):
        ParalinGPT.from_pretrained(tmp_path / "m", device="cpu")
    with pytest.raises(ModelNotFoundError, match="paralingpt train"):
        ParalinGPT.from_pretrained(tmp_path / "nothing", device="cpu")


def test_config_is_checked():
    with pytest.raises(ConfigError, match="transcript"):
        ParalinGPTConfig(prompt="no placeholder")
    with pytest.raises(ConfigError, match="prefix_tokens"):
        ParalinGPTConfig(prefix_tokens=0)
    with pytest.raises(ConfigError, match="Known ones"):
        ParalinGPTConfig.from_dict({"prefix": 3})
    assert ParalinGPTConfig().render_prompt("  hi   there ") == "User said: hi there"
    assert ParalinGPTConfig().render_prompt("") == "User said: (no words could be recognised)"
    assert ParalinGPTConfig.from_dict(ParalinGPTConfig(labels=("sad", "anger")).to_dict()).labels == ("sad", "angry")
