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
