"""E-chat modules on tiny random backbones: shapes, masks, layer weights, trainable parameters, emotion head."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from emotionlayer.labels import EMOTIONS  # noqa: E402
from emotionlayer.models.common.backbones import CT2WhisperEncoder, load_llm, load_speech_encoder  # noqa: E402
from emotionlayer.models.common.layers import IGNORE_INDEX  # noqa: E402
from emotionlayer.models.echat import EChatConfig  # noqa: E402
from emotionlayer.models.echat.model import Connector, EChatBatch, EChatModel, build_model  # noqa: E402
from emotionlayer.models.echat.tiny import tiny_ct2_whisper_encoder, tiny_ssl  # noqa: E402

SMALL = {"connector_dim": 32, "connector_heads": 2, "connector_ff_dim": 64, "emotion_hidden_dim": 16}


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models run fastest on one thread


@pytest.fixture(scope="module")
def parts(tmp_path_factory, tiny_models):
    root = tmp_path_factory.mktemp("echat-parts")
    return {
        "llm": tiny_models.llm(),
        "whisper": tiny_models.encoder,
        "w2v": str(tiny_ssl(root / "w2v")),
        "hubert": str(tiny_ssl(root / "hubert", "hubert")),
        "wavlm": str(tiny_ssl(root / "wavlm", "wavlm")),
    }


def _config(parts, stage=1, encoder="whisper", **extra):
    return EChatConfig(encoder=parts[encoder], llm=parts["llm"], stage=stage, **{**SMALL, **extra})


def _waves(*seconds):
    gen = torch.Generator().manual_seed(0)
    return [0.1 * torch.randn(int(s * 16000), generator=gen) for s in seconds]


def _batch(model, waves, emotions=(2, IGNORE_INDEX)):
    targets = [model.target_ids(t) for t in ("kids are talking by the door", "hello")][: len(waves)]
    return EChatBatch(targets, torch.tensor(list(emotions)[: len(waves)]), waves=waves)


@pytest.mark.parametrize("encoder", ["whisper", "w2v", "hubert", "wavlm"])
def test_encoder_adapters_return_every_layer_and_frame_lengths(parts, encoder):
    adapter = load_speech_encoder(parts[encoder])
    states, lengths = adapter(_waves(1.0, 1.5))
    assert states.shape[0] == adapter.num_hidden_states == 3  # embeddings + 2 layers
    assert states.shape[1] == 2 and states.shape[3] == adapter.hidden_size == 32
    assert lengths.tolist() == [50, 75]  # 50 frames per second for both tiny encoders
    assert states.shape[2] == 75
    assert torch.all(states[:, 0, 50:] == 0)  # padding is zeroed
    one = adapter.encode_one(_waves(1.0)[0].numpy())
    assert one.shape == (3, 50, 32)


def test_ct2_whisper_adapter_masks_padding():
    adapter = CT2WhisperEncoder(tiny_ct2_whisper_encoder(), "tiny-random")
    waves = _waves(0.6, 1.0)
    states, lengths = adapter(waves)
    assert lengths.tolist() == [30, 50] and states.shape == (3, 2, 50, 32)
    alone = adapter.encode_one(waves[0].numpy())
    # the shorter clip's frames barely change when it is padded in a batch (only the conv edge sees padding)
    assert torch.allclose(states[:, 0, :28], alone[:, :28], atol=1e-4)


def test_connector_stacks_frames_and_masks():
    connector = Connector(in_dim=8, out_dim=6, stack=4, dim=16, layers=1, heads=2, ff_dim=32, dropout=0.0).eval()
    x = torch.randn(2, 10, 8)
    out, lengths = connector(x, torch.tensor([10, 5]))
    assert out.shape == (2, 3, 6)  # ceil(10 / 4)
    assert lengths.tolist() == [3, 2]
    # the valid outputs of the shorter clip do not depend on what lies past its end
    x2 = x.clone()
    x2[1, 8:] = 100.0
    out2, _ = connector(x2, torch.tensor([10, 5]))
    assert torch.allclose(out[1, :2], out2[1, :2], atol=1e-5)


def test_decoder_input_layout_masks_and_labels(parts):
    model = build_model(_config(parts, stage=2)).eval()
    waves = _waves(1.0, 1.6)
    speech = model.encode_speech(waves=waves)
    assert speech.speech_lengths.tolist() == [13, 20]  # 50 and 80 frames, stacked by 4
    prompt = model.prompt_ids()
    targets = [model.target_ids("kids are talking by the door"), model.target_ids("hello")]
    embeds, mask, labels = model.build_inputs(speech, prompt, targets)
    lengths = [1 + 1 + n + len(prompt) + len(t) for n, t in zip([13, 20], targets, strict=True)]  # BOS, emotion, ...
    assert mask.sum(1).tolist() == lengths
    assert embeds.shape[:2] == (2, max(lengths))
    for b, target in enumerate(targets):
        assert labels[b, : lengths[b] - len(target)].eq(IGNORE_INDEX).all()
        assert labels[b, lengths[b] - len(target) : lengths[b]].tolist() == target
        assert target[-1] == model.eos_ids[0]
    table = model.llm.get_input_embeddings().weight
    assert torch.allclose(embeds[0, 0], table[model.bos_id])
    assert torch.allclose(embeds[0, 1], model.emotion_projector(speech.emotion_pooled)[0].to(embeds.dtype))
    stage1 = build_model(_config(parts, stage=1)).eval()
    _, mask1, _ = stage1.build_inputs(stage1.encode_speech(waves=waves), prompt, targets)
    assert (mask.sum(1) - mask1.sum(1)).tolist() == [1, 1]  # no emotion embedding in stage 1


def test_only_the_stage_parameters_train(parts):
    def trainable(model):
        return {name.split(".")[0] for name, p in model.named_parameters() if p.requires_grad}

    assert trainable(build_model(_config(parts, stage=1))) == {"speech_weights", "connector"}
    assert trainable(build_model(_config(parts, stage=2))) == {
        "speech_weights",
        "emotion_weights",
        "connector",
        "emotion_head",
        "emotion_projector",
    }
    unfrozen = build_model(_config(parts, stage=1, unfreeze_encoder=True))
    assert trainable(unfrozen) == {"speech_weights", "connector", "encoder"}
    shared = load_speech_encoder(parts["whisper"])
    assert unfrozen.encoder is not shared and not any(p.requires_grad for p in shared.parameters())
    for model in (build_model(_config(parts, stage=2)), unfrozen):
        assert not any(p.requires_grad for p in model.llm.parameters())
        model.train()
        assert not model.llm.training


def test_two_separate_layer_weight_sets_both_get_gradients_in_stage_2(parts):
    model = build_model(_config(parts, stage=2, emotion_loss_weight=0.1)).train()
    assert model.speech_weights.logits is not model.emotion_weights.logits
    names = [n for n, _ in model.named_parameters() if n.endswith("weights.logits")]
    assert names == ["speech_weights.logits", "emotion_weights.logits"]
    model(_batch(model, _waves(1.0, 1.2))).loss.backward()
    for param in (model.speech_weights.logits, model.emotion_weights.logits):
        assert param.grad is not None and param.grad.abs().sum() > 0
    assert not torch.allclose(model.speech_weights.logits.grad, model.emotion_weights.logits.grad)
    assert all(p.grad is None for p in model.llm.parameters())
    assert all(p.grad is None for p in model.encoder.parameters())


def test_loss_mixes_decoder_and_emotion_losses(parts):
    torch.manual_seed(0)
    model = build_model(_config(parts, stage=2, emotion_loss_weight=0.25, dropout=0.0)).eval()
    out = model(_batch(model, _waves(1.0, 1.2)))
    assert torch.isclose(out.loss, 0.75 * out.decoder + 0.25 * out.emotion)
    assert out.target_tokens == sum(len(model.target_ids(t)) for t in ("kids are talking by the door", "hello"))
    logits = out.emotion_logits[0]
    assert torch.isclose(out.emotion, torch.nn.functional.cross_entropy(logits[None], torch.tensor([2])))
    stage1 = build_model(_config(parts, stage=1)).eval()
    out1 = stage1(_batch(stage1, _waves(1.0, 1.2)))
    assert out1.loss == out1.decoder and out1.emotion == 0


def test_emotion_probabilities_sum_to_one_over_canonical_labels(parts):
    model = build_model(_config(parts, stage=2)).eval()
    speech = model.encode_speech(waves=_waves(1.0))
    probs = model.emotion_probabilities(speech.emotion_logits[0])
    assert list(probs) == list(EMOTIONS)
    assert abs(sum(probs.values()) - 1.0) < 1e-6
    four = build_model(_config(parts, stage=2, labels=("neu", "joy", "sadness", "anger"))).eval()
    assert four.config.labels == ("neutral", "happy", "sad", "angry")
    assert list(four.emotion_probabilities(four.encode_speech(waves=_waves(1.0)).emotion_logits[0])) == list(
        four.config.labels
    )


def test_generation_stops_at_max_tokens_and_is_greedy_by_default(parts):
    model = build_model(_config(parts, stage=2)).eval()
    speech = model.encode_speech(waves=_waves(1.0))
    first = list(model.generate_ids(speech, max_new_tokens=6))
    assert first == list(model.generate_ids(speech, max_new_tokens=6))
    assert len(first) <= 6 and not set(first) & set(model.eos_ids)


def test_model_from_parts_accepts_a_ct2_encoder(parts):
    llm, tokenizer = load_llm(parts["llm"])
    encoder = CT2WhisperEncoder(tiny_ct2_whisper_encoder(), "tiny-random")
    model = EChatModel(EChatConfig(encoder="tiny-random", llm=parts["llm"], stage=2, **SMALL), encoder, llm, tokenizer)
    out = model(_batch(model, _waves(0.7, 1.1)))
    assert torch.isfinite(out.loss)
