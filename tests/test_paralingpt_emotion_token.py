"""ParalinGPT's emotion token (not in the paper): the label embeddings weighted by the prefix classifier's posterior."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("accelerate")
pytest.importorskip("tokenizers")

from emotionlayer.audio import load_audio  # noqa: E402
from emotionlayer.config import PipelineConfig  # noqa: E402
from emotionlayer.models.common.checkpoint import load_weights  # noqa: E402
from emotionlayer.models.common.config import TrainConfig  # noqa: E402
from emotionlayer.models.echat.tiny import DATASET_ROWS, SENTENCES, tiny_llm  # noqa: E402
from emotionlayer.models.paralingpt import ParalinGPTConfig, serialise, train_paralingpt  # noqa: E402
from emotionlayer.models.paralingpt.data import ParalinGPTDataset, collate, load_examples  # noqa: E402
from emotionlayer.models.paralingpt.inference import ParalinGPT  # noqa: E402
from emotionlayer.models.paralingpt.model import build_model  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models run fastest on one thread


@pytest.fixture(scope="module")
def setup(tiny_models):
    return {"llm": tiny_models.paralingpt_llm, "encoder": tiny_models.encoder, "manifest": tiny_models.manifest}


def _config(setup, **extra):
    values = {"encoder": setup["encoder"], "llm": setup["llm"], "projection_dim": 16, "dropout": 0.0}
    return ParalinGPTConfig(**{**values, **extra})


def _train(tmp_path, **extra):
    values = {"batch_size": 4, "learning_rate": 3e-3, "warmup_steps": 0, "max_steps": 2, "save_every": 0}
    return TrainConfig(**{**values, "cache_dir": str(tmp_path / "cache"), "seed": 1, **extra})


def _model_and_batch(setup, config):
    torch.manual_seed(0)
    model = build_model(config)
    data = ParalinGPTDataset(load_examples(setup["manifest"], config.labels), model)
    return model, data, collate([data[i] for i in range(len(data))])


def test_the_emotion_token_is_the_posterior_weighted_label_embedding(setup):
    config = _config(setup, emotion_token=True)
    assert config.has_emotion_head  # the token needs the classifier
    model, data, batch = _model_and_batch(setup, config)
    k, width = config.prefix_tokens, model.llm.get_input_embeddings().weight.shape[1]
    prefix = model.encode_prefix(batch.states, batch.lengths, batch.waves)
    assert prefix.shape == (4, k + 1, width)

    # e_l: the mean input embedding of the tokens the target writes label l with
    table = model.llm.get_input_embeddings().weight.detach()
    for i, label in enumerate(config.labels):
        ids, _ = model.target_ids(label, "neutral", "x")
        label_ids = ids[len(model.ids("emotion:")) : len(model.ids("emotion:")) + len(model.ids(f" {label}"))]
        assert torch.allclose(model.label_embeddings[i], table[label_ids].mean(0), atol=1e-6)
    posterior = torch.softmax(model.emotion_logits(prefix[:, :k]), dim=-1)
    expected = posterior @ model.label_embeddings
    assert torch.allclose(prefix[:, k], expected, atol=1e-5)
    assert torch.allclose(posterior.sum(1), torch.ones(4))
    assert torch.equal(model.emotion_logits(prefix), model.emotion_logits(prefix[:, :k]))  # the token is not read

    # in the decoder input the token has a line of its own after the transcript's: "Tone:" token "\n", then the target
    embeds, mask, labels, _ = model.build_inputs(prefix, batch.prompt_ids, batch.target_ids, batch.target_weights)
    text, newline = model.ids(config.emotion_token_text), model.ids("\n")
    table = model.llm.get_input_embeddings().weight
    for b in range(4):
        where = 1 + k + len(batch.prompt_ids[b]) + len(text)
        assert int(mask[b].sum()) == where + 1 + len(newline) + len(batch.target_ids[b])
        assert torch.allclose(embeds[b, where], prefix[b, k])
        assert torch.allclose(embeds[b, where - len(text) : where], table[text])
        assert torch.allclose(embeds[b, where + 1 : where + 1 + len(newline)], table[newline])
        assert torch.allclose(embeds[b, 1 : 1 + k], prefix[b, :k])
        assert int(labels[b, where + len(newline) + 1]) == batch.target_ids[b][0]

    # differentiable: the language-model loss alone reaches the classifier through the token
    model.train()
    out = model(batch)
    out.loss.backward()
    assert float(out.emotion) == 0.0  # no auxiliary loss in this config
    assert model.emotion_head.weight.grad is not None and model.emotion_head.weight.grad.abs().sum() > 0


def test_without_the_option_the_model_is_the_papers(setup):
    model, _, batch = _model_and_batch(setup, _config(setup))
    prefix = model.encode_prefix(batch.states, batch.lengths, batch.waves)
    assert prefix.shape[1] == model.config.prefix_tokens
    assert not hasattr(model, "emotion_head") and not hasattr(model, "label_embeddings")


def test_the_emotion_token_is_saved_and_loaded_with_the_checkpoint(setup, tmp_path):
    config = _config(setup, emotion_token=True, standardise=True, prefix_warmup_steps=20)
    train_paralingpt(setup["manifest"], tmp_path / "run", config, _train(tmp_path), progress=False)
    weights = load_weights(tmp_path / "run")
    assert "emotion_head.weight" in weights and "label_embeddings" not in weights  # e_l comes from the LLM
    loaded = ParalinGPT.from_pretrained(tmp_path / "run", device="cpu")
    assert loaded.config.emotion_token and loaded.config.prefix_warmup_steps == 20
    clip = load_audio(sorted((setup["manifest"].parent / "clips").glob("*.wav"))[0], 16000)
    prefix = loaded.encode(clip).inputs
    assert prefix.shape[1] == config.prefix_tokens + 1
    again = ParalinGPT.from_pretrained(tmp_path / "run", device="cpu").encode(clip).inputs
    assert torch.equal(prefix, again)
    out = loaded.reply(clip, "hello there", max_new_tokens=4)
    assert out.emotion.label in config.labels


def test_a_warm_up_manifest_adds_clips_to_the_warm_up_only(setup, tmp_path):
    from emotionlayer.data.manifest import read_manifest
    from emotionlayer.errors import ConfigError

    extra = tmp_path / "extra.csv"
    rows = [(row.path, row.emotion) for row in read_manifest(setup["manifest"])]
    rows.append((rows[0][0], "calm"))
    extra.write_text("path,emotion\n" + "".join(f"{path},{emotion}\n" for path, emotion in rows))
    config = _config(setup, emotion_token=True, standardise=True, prefix_warmup_steps=5)
    from emotionlayer.models.paralingpt.warmup import warmup_examples

    four = ("happy", "sad", "angry", "neutral")
    assert [e.emotion for e in warmup_examples(extra, four)] == list(four)  # the "calm" row is left out
    train_paralingpt(
        setup["manifest"], tmp_path / "run", config, _train(tmp_path), progress=False, warmup_manifest=extra
    )
    with pytest.raises(ConfigError, match="warm-up"):
        plain = _config(setup)
        train_paralingpt(setup["manifest"], tmp_path / "run2", plain, _train(tmp_path), warmup_manifest=extra)


@pytest.fixture(scope="module")
def fluent(tiny_models, tmp_path_factory):
    """A tiny LLM first trained as a language model of the sentences and targets (as in the overfit test)."""
    config = PipelineConfig.default()
    answers = tuple(serialise(e, config.strategy_for(e).style.emotion, reply) for _, e, reply in DATASET_ROWS)
    sentences = SENTENCES + answers + tuple(f"User said: {text}" for text, _, _ in DATASET_ROWS)
    return str(tiny_llm(tmp_path_factory.mktemp("fluent-llm"), sentences=sentences, pretrain_steps=150))


def test_the_written_emotion_follows_the_audio(setup, fluent, tmp_path):
    """After the warm-up and a few LM steps, the emotion field follows the audio: clips 0 and 3 have the same
    transcript and different emotions, and each clip, read with that transcript, gets its own emotion."""
    config = ParalinGPTConfig(
        encoder=setup["encoder"], llm=fluent, projection_dim=64, dropout=0.0, emotion_weight=4.0,
        standardise=True, emotion_aux_weight=0.5, prefix_warmup_steps=200, emotion_token=True,
    )  # fmt: skip
    train_paralingpt(setup["manifest"], tmp_path / "run", config, _train(tmp_path, max_steps=150), progress=False)
    model = ParalinGPT.from_pretrained(tmp_path / "run", device="cpu")
    clips = sorted((setup["manifest"].parent / "clips").glob("*.wav"))
    assert DATASET_ROWS[0][0] == DATASET_ROWS[3][0] and DATASET_ROWS[0][1] != DATASET_ROWS[3][1]
    for clip, (text, emotion, _) in zip(clips, DATASET_ROWS, strict=True):
        reading = model.read(model.encode(load_audio(clip, 16000)), text)
        assert reading.emotion.label == emotion, clip.name


def test_with_a_soft_prompt_the_audio_reaches_the_llm_through_the_emotion_token_only(setup, tmp_path):
    from emotionlayer.errors import ConfigError

    with pytest.raises(ConfigError, match="emotion_token"):
        _config(setup, soft_prompt=True)
    config = _config(setup, emotion_token=True, soft_prompt=True, emotion_aux_weight=0.5)
    model, _, batch = _model_and_batch(setup, config)
    k = config.prefix_tokens
    audio = model.audio_prefix(batch.states, batch.lengths, batch.waves)
    prefix = model.encode_prefix(batch.states, batch.lengths, batch.waves)
    assert prefix.shape == (4, k + 1, audio.shape[2])
    for b in range(4):  # the same K learned tokens for every clip, then the emotion token of its audio tokens
        assert torch.equal(prefix[b, :k], model.soft_prompt())
    posterior = torch.softmax(model.emotion_logits(audio), dim=-1)
    assert torch.allclose(prefix[:, k], posterior @ model.label_embeddings, atol=1e-5)
    assert not torch.allclose(prefix[0, k], prefix[1, k])  # the token differs between clips

    model.train()
    out = model(batch)
    out.loss.backward()
    assert float(out.emotion) > 0  # the auxiliary classifier reads the audio tokens, not the soft prompt
    assert model.soft_prompt.weight.grad is not None and model.projector.net[1].weight.grad.abs().sum() > 0
    assert "soft_prompt.weight" in model.trainable_state_dict()
