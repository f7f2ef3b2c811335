"""E-chat's CTC pre-alignment (``alignment="ctc"``): the connector learns to point at the LLM's own token
embeddings without the LLM running, and an ``lm`` run starts from it."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("accelerate")

from emotionlayer.audio import load_audio  # noqa: E402
from emotionlayer.errors import ConfigError  # noqa: E402
from emotionlayer.models.echat import EChat, EChatConfig, TrainConfig, train_echat  # noqa: E402
from emotionlayer.models.echat.tiny import DATASET_ROWS  # noqa: E402
from emotionlayer.models.echat.train import stage_config  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL = {"connector_dim": 32, "connector_heads": 2, "connector_ff_dim": 64, "emotion_hidden_dim": 16}


def _config(tiny_models, **extra) -> EChatConfig:
    return EChatConfig(
        encoder=tiny_models.encoder, llm=tiny_models.llm(), stage=1, dropout=0.0, stack_frames=1, **SMALL, **extra
    )


def _train(tmp_path, steps: int) -> TrainConfig:
    return TrainConfig(
        batch_size=4, learning_rate=3e-3, warmup_steps=0, max_steps=steps, save_every=0,
        cache_dir=str(tmp_path / "cache"), seed=1,
    )


def test_ctc_is_a_stage_one_objective():
    with pytest.raises(ConfigError, match="stage-1 objective"):
        EChatConfig(stage=2, alignment="ctc")
    with pytest.raises(ConfigError, match="alignment must be one of"):
        EChatConfig(alignment="mse")
    assert EChatConfig(alignment="ctc").with_stage(2).alignment == "lm"
    # a run started from a CTC model goes on with the LLM's loss unless asked again
    assert stage_config(1, EChatConfig(alignment="ctc")).alignment == "lm"
    assert stage_config(1, EChatConfig(alignment="ctc"), {"alignment": "ctc"}).alignment == "ctc"


def test_ctc_overfits_without_the_llm_then_lm_starts_from_it(tiny_models, tmp_path, monkeypatch):
    config = _config(tiny_models, alignment="ctc")
    calls = []
    from emotionlayer.models.echat import model as model_module

    real = model_module.EChatModel.forward

    def spy(self, batch):
        original = self.llm.forward
        self.llm.forward = lambda *a, **k: calls.append(1) or original(*a, **k)
        try:
            return real(self, batch)
        finally:
            self.llm.forward = original

    monkeypatch.setattr(model_module.EChatModel, "forward", spy)
    result = train_echat(tiny_models.manifest, tmp_path / "ctc", config, _train(tmp_path, 250), progress=False)
    monkeypatch.undo()
    assert not calls, "the CTC objective must not run the LLM"
    assert result.losses[-1] < 0.2 * result.losses[0], result.losses[::25]

    echat = EChat.from_pretrained(tmp_path / "ctc", device="cpu")
    clips = sorted((tiny_models.manifest.parent / "clips").glob("*.wav"))
    read = [echat.ctc_transcribe(load_audio(clip, 16000)) for clip in clips]
    assert read == [text for text, _, _ in DATASET_ROWS]
    # the outputs sit at the scale of the LLM's token embeddings
    speech = echat.model.encode_speech(waves=[torch.as_tensor(load_audio(clips[0], 16000).samples)])
    table = echat.model.llm.get_input_embeddings().weight
    ratio = float(speech.speech.detach().pow(2).mean().sqrt() / table.detach().pow(2).mean().sqrt())
    assert 0.5 < ratio < 2.0, ratio

    # the LLM's own loss goes on from the pre-aligned connector; the blank vector is not carried over
    lm = stage_config(1, echat.config)
    follow = train_echat(
        tiny_models.manifest, tmp_path / "lm", lm, _train(tmp_path, 2), init=tmp_path / "ctc", progress=False
    )
    assert len(follow.losses) == 2
    after = EChat.from_pretrained(tmp_path / "lm", device="cpu")
    assert after.model.ctc_head is None and after.config.alignment == "lm"
    with pytest.raises(ConfigError, match="alignment='ctc'"):
        after.ctc_transcribe(load_audio(clips[0], 16000))


def test_compressed_speech_tokens_follow_the_ctc_reading(tiny_models, tmp_path):
    """speech_tokens="ctc": one LLM input per token the CTC head reads, each the mean of its frames; stage 1 adds
    the CTC loss; the CTC head and classes go on into stage 2 and its checkpoint."""
    from emotionlayer.models.echat.ctc import ctc_logits

    with pytest.raises(ConfigError, match="after a CTC pre-alignment"):
        EChatConfig(alignment="ctc", speech_tokens="ctc")
    train_echat(
        tiny_models.manifest, tmp_path / "ctc", _config(tiny_models, alignment="ctc"), _train(tmp_path, 120),
        progress=False,
    )
    with pytest.raises(ConfigError, match="has no CTC head"):
        plain = train_echat(
            tiny_models.manifest, tmp_path / "plain", _config(tiny_models), _train(tmp_path, 1), progress=False
        )
        train_echat(
            tiny_models.manifest, tmp_path / "bad", _config(tiny_models, speech_tokens="ctc"), _train(tmp_path, 1),
            init=plain.out, progress=False,
        )
    config = _config(tiny_models, speech_tokens="ctc")
    result = train_echat(
        tiny_models.manifest, tmp_path / "s1", config, _train(tmp_path, 3), init=tmp_path / "ctc", progress=False
    )
    assert len(result.losses) == 3
    echat = EChat.from_pretrained(tmp_path / "s1", device="cpu")
    model = echat.model
    assert model.ctc_vocab is not None and model.config.speech_tokens == "ctc"
    clip = sorted((tiny_models.manifest.parent / "clips").glob("*.wav"))[0]
    with torch.no_grad():
        speech = model.encode_speech(waves=[torch.as_tensor(load_audio(clip, 16000).samples)])
        frames = speech.frames
        best = ctc_logits(model, frames, model.ctc_vocab).argmax(-1)[0].tolist()
    runs = [k for i, k in enumerate(best) if k != 0 and (i == 0 or k != best[i - 1])]
    assert int(speech.speech_lengths[0]) == max(1, len(runs)) < int(speech.frame_lengths[0])
    first = next(i for i, k in enumerate(best) if k != 0)
    end = next((i for i in range(first, len(best)) if best[i] != best[first]), len(best))
    assert torch.allclose(speech.speech[0, 0], frames[0, first:end].mean(0), atol=1e-5)

    stage2 = stage_config(2, echat.config)
    assert stage2.speech_tokens == "ctc"
    train_echat(
        tiny_models.manifest, tmp_path / "s2", stage2, _train(tmp_path, 2), init=tmp_path / "s1", progress=False
    )
    after = EChat.from_pretrained(tmp_path / "s2", device="cpu")
    assert torch.equal(after.model.ctc_vocab, model.ctc_vocab)
    assert torch.equal(after.model.ctc_head.blank, model.ctc_head.blank)  # no loss reaches it in stage 2
    assert after.reply(load_audio(clip, 16000), max_new_tokens=4).emotion is not None
