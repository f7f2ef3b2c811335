"""E-chat's ``emotion_input="words"`` (not in the paper): the emotion head's posterior mixes the LLM's own
embeddings of the label words into one vector on a ``Tone:`` line after the instruction."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from emotionlayer.errors import ConfigError  # noqa: E402
from emotionlayer.models.common.layers import IGNORE_INDEX  # noqa: E402
from emotionlayer.models.echat import EChatConfig  # noqa: E402
from emotionlayer.models.echat.model import EChatBatch, build_model  # noqa: E402
from emotionlayer.models.echat.train import stage_config  # noqa: E402

SMALL = {"connector_dim": 32, "connector_heads": 2, "connector_ff_dim": 64, "emotion_hidden_dim": 16}

pytestmark = pytest.mark.usefixtures("one_thread")


def _config(tiny_models, **extra) -> EChatConfig:
    return EChatConfig(
        encoder=tiny_models.encoder, llm=tiny_models.llm(), stage=2, dropout=0.0, **{**SMALL, **extra}
    )


def _waves(*seconds):
    gen = torch.Generator().manual_seed(0)
    return [0.1 * torch.randn(int(s * 16000), generator=gen) for s in seconds]


def test_emotion_input_is_checked_and_carried_to_later_stages():
    with pytest.raises(ConfigError, match="emotion_input must be one of"):
        EChatConfig(emotion_input="label")
    assert EChatConfig().emotion_input == "projector"  # the paper's
    assert stage_config(2, EChatConfig(stage=1), {"emotion_input": "words"}).emotion_input == "words"
    assert stage_config(2, EChatConfig(stage=2, emotion_input="words")).emotion_input == "words"
    assert EChatConfig.from_dict(EChatConfig(emotion_input="words").to_dict()).emotion_input == "words"


def test_the_tone_line_holds_the_posterior_weighted_label_words(tiny_models):
    model = build_model(_config(tiny_models, emotion_input="words")).eval()
    paper = build_model(_config(tiny_models)).eval()
    waves = _waves(1.0, 1.6)
    speech = model.encode_speech(waves=waves)
    prompt = model.prompt_ids()
    targets = [model.target_ids("kids are talking by the door"), model.target_ids("hello")]
    embeds, mask, labels = model.build_inputs(speech, prompt, targets)
    tone = model.tokenizer("Tone:", add_special_tokens=False)["input_ids"]
    newline = model.tokenizer("\n", add_special_tokens=False)["input_ids"]
    n_speech = speech.speech_lengths.tolist()
    # BOS, speech, prompt, "Tone:", the emotion vector, newline, target: the paper's layout plus the line's text
    line = len(tone) + 1 + len(newline)
    lengths = [1 + n + len(prompt) + line + len(t) for n, t in zip(n_speech, targets, strict=True)]
    assert mask.sum(1).tolist() == lengths
    _, paper_mask, _ = paper.build_inputs(paper.encode_speech(waves=waves), prompt, targets)
    assert (mask.sum(1) - paper_mask.sum(1)).tolist() == [len(tone) + len(newline)] * 2
    table = model.llm.get_input_embeddings().weight.detach().float()
    ids = [model.tokenizer(f" {label}", add_special_tokens=False)["input_ids"] for label in model.config.labels]
    words = torch.stack([table[i].mean(0) for i in ids])
    posterior = torch.softmax(speech.emotion_logits.float(), dim=-1)
    for b, target in enumerate(targets):
        at = 1 + n_speech[b] + len(prompt)
        assert torch.allclose(embeds[b, at : at + len(tone)].float(), table[tone])
        assert torch.allclose(embeds[b, at + len(tone)].float(), posterior[b] @ words, atol=1e-5)
        assert torch.allclose(embeds[b, 1 : 1 + n_speech[b]], speech.speech[b, : n_speech[b]].to(embeds.dtype))
        assert labels[b, lengths[b] - len(target) : lengths[b]].tolist() == target
    # a confident head puts (nearly) the label word itself on the line
    sad = model.config.labels.index("sad")
    speech.emotion_logits = torch.full_like(speech.emotion_logits, -30.0)
    speech.emotion_logits[:, sad] = 30.0
    sure, _, _ = model.build_inputs(speech, prompt, targets)
    assert torch.allclose(sure[0, 1 + n_speech[0] + len(prompt) + len(tone)].float(), words[sad], atol=1e-5)


def test_the_reply_loss_reaches_the_head_and_the_projector_is_not_trained(tiny_models):
    model = build_model(_config(tiny_models, emotion_input="words", emotion_loss_weight=0.0)).train()
    trainable = {name.split(".")[0] for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"speech_weights", "emotion_weights", "connector", "emotion_head"}
    targets = [model.target_ids(t) for t in ("kids are talking by the door", "hello")]
    out = model(EChatBatch(targets, torch.tensor([2, IGNORE_INDEX]), waves=_waves(1.0, 1.2)))
    out.loss.backward()  # emotion weight 0: only the reply loss, through the posterior on the Tone: line
    head = [p.grad for p in model.emotion_head.parameters()]
    assert all(g is not None for g in head) and sum(float(g.abs().sum()) for g in head) > 0
    assert all(p.grad is None for p in model.emotion_projector.parameters())
    assert set(model.trainable_state_dict()) == {n for n, p in model.named_parameters() if p.requires_grad}


def test_a_paper_checkpoint_starts_a_words_run(tiny_models):
    """Starting from a projector model (``--init``) loads everything but the projector, which is not used."""
    paper = build_model(_config(tiny_models))
    words = build_model(_config(tiny_models, emotion_input="words"))
    loaded = words.load_trainable_state_dict(paper.trainable_state_dict(), partial=True)
    assert not any(name.startswith("emotion_projector") for name in set(words.trainable_state_dict()))
    assert "emotion_head.net.1.weight" in loaded
    assert torch.equal(words.emotion_head.net[1].weight, paper.emotion_head.net[1].weight)
