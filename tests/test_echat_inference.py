"""E-chat inference on tiny random backbones: save/load, reply, streaming, emotion output, errors."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from emotionlayer.errors import AudioError, ConfigError, ModelNotFoundError  # noqa: E402
from emotionlayer.labels import EMOTIONS  # noqa: E402
from emotionlayer.models.echat import EChat, EChatConfig, EChatOutput  # noqa: E402
from emotionlayer.models.echat import inference as inference_module  # noqa: E402
from emotionlayer.models.echat.checkpoint import save_model_folder  # noqa: E402
from emotionlayer.models.echat.model import EChatBatch, build_model  # noqa: E402
from emotionlayer.types import Audio, EmotionPrediction  # noqa: E402

SMALL = {"connector_dim": 32, "connector_heads": 2, "connector_ff_dim": 64, "emotion_hidden_dim": 16}


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models run fastest on one thread


@pytest.fixture(scope="module")
def parts(tiny_models):
    return {"llm": tiny_models.llm(initializer_range=0.2), "encoder": tiny_models.encoder}


def _saved(parts, folder, stage=2):
    """A model with non-trivial trained weights, saved; returns (model, folder)."""
    torch.manual_seed(3)
    config = EChatConfig(encoder=parts["encoder"], llm=parts["llm"], stage=stage, **SMALL)
    model = build_model(config)
    with torch.no_grad():
        for param in model.trainable_state_dict().values():
            param.add_(0.3 * torch.randn_like(param))
    save_model_folder(folder, model.trainable_state_dict(), config, None)
    return model.eval(), folder


def _audio(seconds=1.0, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    return Audio((0.3 * np.sin(2 * np.pi * 220 * t) + 0.01 * rng.standard_normal(len(t))).astype(np.float32), 16000)


def test_save_and_load_give_identical_outputs(parts, tmp_path):
    model, folder = _saved(parts, tmp_path / "model")
    loaded = EChat.from_pretrained(folder, device="cpu")
    waves = [torch.from_numpy(_audio(1.0).samples), torch.from_numpy(_audio(1.4, seed=1).samples)]
    batch = EChatBatch(
        [model.target_ids("hello"), model.target_ids("kids are talking by the door")], torch.tensor([1, 3]), waves=waves
    )
    with torch.no_grad():
        a, b = model(batch), loaded.model(batch)
    assert torch.equal(a.loss, b.loss) and torch.equal(a.emotion_logits, b.emotion_logits)
    original = EChat(model).reply(_audio(), max_new_tokens=8)
    again = loaded.reply(_audio(), max_new_tokens=8)
    assert again.text == original.text
    assert again.emotion.probabilities == pytest.approx(original.emotion.probabilities)


def test_reply_gives_text_emotion_and_timings(parts, tmp_path):
    _, folder = _saved(parts, tmp_path / "model")
    echat = EChat.from_pretrained(folder, device="cpu")
    out = echat.reply(_audio(), max_new_tokens=6)
    assert isinstance(out, EChatOutput) and isinstance(out.text, str)
    assert isinstance(out.emotion, EmotionPrediction)
    assert set(out.emotion.probabilities) == set(EMOTIONS)
    assert abs(sum(out.emotion.probabilities.values()) - 1) < 1e-6
    assert out.emotion.label == max(out.emotion.probabilities, key=out.emotion.probabilities.get)
    assert set(out.timings) == {"encode", "first_token", "generate", "total"}
    assert all(v >= 0 for v in out.timings.values()) and out.timings["total"] >= out.timings["encode"]
    assert EChatOutput.from_dict(out.to_dict()) == out
    assert echat.predict_emotion(_audio()).probabilities == pytest.approx(out.emotion.probabilities)
    assert echat.reply(Audio(_audio().samples[::2].copy(), 8000), max_new_tokens=2).emotion is not None  # resampled


def test_stream_reply_matches_reply_and_stops_when_closed(parts, tmp_path):
    _, folder = _saved(parts, tmp_path / "model")
    echat = EChat.from_pretrained(folder, device="cpu")
    pieces = list(echat.stream_reply(_audio(), max_new_tokens=10))
    assert "".join(pieces).strip() == echat.reply(_audio(), max_new_tokens=10).text
    stream = echat.stream_reply(_audio(), max_new_tokens=10)
    first = next(stream)
    stream.close()
    assert first == pieces[0]
    sampled = [echat.reply(_audio(), max_new_tokens=10, temperature=1.0, seed=5).text for _ in range(2)]
    assert sampled[0] == sampled[1]  # the same seed samples the same reply


def test_stage_1_model_transcribes_without_an_emotion(parts, tmp_path):
    _, folder = _saved(parts, tmp_path / "s1", stage=1)
    echat = EChat.from_pretrained(folder, device="cpu")
    assert echat.reply(_audio(), max_new_tokens=3).emotion is None
    with pytest.raises(ConfigError, match="stage-1"):
        echat.predict_emotion(_audio())


def test_errors_say_what_to_do(parts, tmp_path, monkeypatch):
    monkeypatch.setattr(inference_module, "PACKAGED_DIR", tmp_path / "nothing")
    with pytest.raises(ModelNotFoundError, match="emotionlayer echat train"):
        EChat.from_pretrained(None)
    with pytest.raises(ModelNotFoundError, match="config.json"):
        EChat.from_pretrained(tmp_path)
    _, folder = _saved(parts, tmp_path / "model")
    echat = EChat.from_pretrained(folder, device="cpu")
    with pytest.raises(AudioError, match="at most 4 s"):
        echat.reply(_audio(5.0))
    with pytest.raises(ConfigError, match="max_new_tokens"):
        echat.reply(_audio(), max_new_tokens=0)
