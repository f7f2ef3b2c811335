"""The training path can learn: E-chat (stage 1 and 2) and ParalinGPT, built tiny, overfit a fixed small batch.

A property test of the training code (optimizer, label masking and shift, which parameters train, the
connector or prefix reaching the LLM's input embeddings, the loss over the target tokens), not a timing test.
The frozen tiny LLM is first trained as a language model of the sentences (``tiny_llm(pretrain_steps=...)``),
as a real LLM has learned its language: it can write every target, but which one is left open. Only the
audio can choose: two clips have the same transcript and different replies and emotions, so reproducing
every clip's own target after training means the speech path reaches the LLM and carries what tells the
clips apart. (A frozen *random* tiny LLM cannot be steered this far: even free soft-prompt vectors in front
of one leave about 2.3 nats per token.)
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("accelerate")
pytest.importorskip("tokenizers")

from emotionlayer.audio import load_audio  # noqa: E402
from emotionlayer.config import PipelineConfig  # noqa: E402
from emotionlayer.models.echat import EChat, EChatConfig, TrainConfig, train_echat  # noqa: E402
from emotionlayer.models.echat.tiny import DATASET_ROWS, SENTENCES, tiny_llm  # noqa: E402
from emotionlayer.models.paralingpt import ParalinGPT, ParalinGPTConfig, serialise, train_paralingpt  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models run fastest on one thread

SMALL = {"connector_dim": 32, "connector_heads": 2, "connector_ff_dim": 64, "emotion_hidden_dim": 16}


def _answers() -> list[str]:
    """The serialised ParalinGPT target of each tiny clip (response emotion from the default strategies)."""
    config = PipelineConfig.default()
    return [serialise(e, config.strategy_for(e).style.emotion, reply) for _, e, reply in DATASET_ROWS]


@pytest.fixture(scope="module")
def setup(tiny_models, tmp_path_factory):
    sentences = SENTENCES + tuple(_answers()) + tuple(f"User said: {text}" for text, _, _ in DATASET_ROWS)
    llm = tiny_llm(tmp_path_factory.mktemp("fluent-llm"), sentences=sentences, pretrain_steps=150)
    clips = sorted((tiny_models.manifest.parent / "clips").glob("*.wav"))
    assert len(clips) == len(DATASET_ROWS)
    return {"llm": str(llm), "encoder": tiny_models.encoder, "manifest": tiny_models.manifest, "clips": clips}


def _train(tmp_path, steps: int) -> TrainConfig:
    return TrainConfig(
        batch_size=4,  # the whole fixed batch every step
        learning_rate=3e-3,
        warmup_steps=0,
        max_steps=steps,
        save_every=0,
        cache_dir=str(tmp_path / "cache"),
        seed=1,
    )


def _fell_far(losses: list[float], ratio: float, floor: float) -> None:
    assert losses[-1] < ratio * losses[0], losses[:: max(1, len(losses) // 10)]
    assert losses[-1] < floor, losses[:: max(1, len(losses) // 10)]


@pytest.mark.parametrize("stage", [1, 2])
def test_echat_overfits_its_targets(setup, tmp_path, stage):
    config = EChatConfig(encoder=setup["encoder"], llm=setup["llm"], stage=stage, dropout=0.0, **SMALL)
    result = train_echat(setup["manifest"], tmp_path / "run", config, _train(tmp_path, 300), progress=False)
    _fell_far(result.losses, ratio=0.3, floor=0.1)
    echat = EChat.from_pretrained(tmp_path / "run", device="cpu")
    for clip, (text, _, reply) in zip(setup["clips"], DATASET_ROWS, strict=True):
        said = echat.reply(load_audio(clip, 16000), max_new_tokens=48).text
        assert said == (text if stage == 1 else reply), clip.name


def test_paralingpt_overfits_its_fields(setup, tmp_path):
    config = ParalinGPTConfig(encoder=setup["encoder"], llm=setup["llm"], dropout=0.0, projection_dim=64)
    result = train_paralingpt(setup["manifest"], tmp_path / "run", config, _train(tmp_path, 150), progress=False)
    _fell_far(result.losses, ratio=0.7, floor=0.1)  # the fluent LLM starts low: only the emotion is open
    model = ParalinGPT.from_pretrained(tmp_path / "run", device="cpu")
    for clip, (text, emotion, reply) in zip(setup["clips"], DATASET_ROWS, strict=True):
        out = model.reply(load_audio(clip, 16000), text, max_new_tokens=64)
        assert (out.emotion.label, out.text) == (emotion, reply), clip.name  # clips 0 and 3 share their text
