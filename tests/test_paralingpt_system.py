"""ParalinGPT as a registered dialogue system on a tiny random model: respond, stream, closing, voice, CLI."""

from __future__ import annotations

import json
import sys

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

import emotionlayer.testing  # noqa: E402,F401  (dummy ASR and TTS)
from emotionlayer.cli import main as cli  # noqa: E402
from emotionlayer.config import PipelineConfig  # noqa: E402
from emotionlayer.errors import ConfigError, ModelNotFoundError  # noqa: E402
from emotionlayer.labels import EMOTIONS  # noqa: E402
from emotionlayer.models.echat.tiny import SENTENCES  # noqa: E402
from emotionlayer.models.paralingpt import ParalinGPTConfig, serialise  # noqa: E402
from emotionlayer.models.paralingpt import inference as inference_module  # noqa: E402
from emotionlayer.models.paralingpt.checkpoint import save_model_folder  # noqa: E402
from emotionlayer.models.paralingpt.model import build_model  # noqa: E402
from emotionlayer.models.paralingpt.system import ParalinGPTSystem, voice_for  # noqa: E402
from emotionlayer.systems import DialogueSystem, build_system  # noqa: E402
from emotionlayer.testing import tone  # noqa: E402
from emotionlayer.types import Utterance  # noqa: E402

DUMMIES = {"ser": "dummy", "asr": "dummy", "llm": "dummy", "tts": "dummy"}
TIMINGS = {"asr", "encode", "generate", "tts", "total", "time_to_first_audio"}


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models run fastest on one thread


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, tiny_models):
    root = tmp_path_factory.mktemp("paralingpt-system")
    sentences = SENTENCES + (
        serialise("sad", "calm", "I am so sorry to hear that."),
        "User said: my phone won't turn on",
    )
    config = ParalinGPTConfig(
        encoder=tiny_models.encoder,
        llm=tiny_models.llm(sentences, initializer_range=0.2),
        projection_dim=16,
    )
    torch.manual_seed(5)
    model = build_model(config)
    with torch.no_grad():
        for param in model.trainable_state_dict().values():
            param.add_(0.3 * torch.randn_like(param))
    save_model_folder(root / "model", model.trainable_state_dict(), config, None)
    return root / "model"


@pytest.fixture(scope="module")
def system(model_dir):
    return build_system(DUMMIES, f"paralingpt:model={model_dir},device=cpu,max_new_tokens=12,max_sentences=none")


def test_paralingpt_answers_through_the_system_registry(system):
    assert isinstance(system, ParalinGPTSystem) and isinstance(system, DialogueSystem)
    turn = system.respond(tone(1.0))
    assert turn.system == "paralingpt"
    assert turn.transcript.text == "my phone won't turn on"  # the config's (dummy) ASR
    assert set(turn.emotion.probabilities) == set(EMOTIONS)
    assert abs(sum(turn.emotion.probabilities.values()) - 1) < 1e-6
    assert turn.prompt == ({"role": "user", "content": "User said: my phone won't turn on"},)
    assert turn.response.text and turn.audio is not None
    assert set(turn.timings) == TIMINGS


def test_given_text_replaces_the_asr(system):
    turn = system.respond(Utterance(tone(1.0), text="hello there"))
    assert turn.transcript.text == "hello there" and turn.transcript.model == "given"


def test_stream_events_and_closing(system):
    events = list(system.stream(tone(1.0)))
    kinds = [e.kind for e in events]
    assert kinds[:2] == ["perceived", "prompt"] and kinds[-1] == "turn" and "audio" in kinds
    json.dumps([e.to_dict() for e in events])
    stream = system.stream(tone(1.0))
    for event in stream:
        if event.kind == "prompt":
            break
    stream.close()  # stops the LLM; the system answers the next turn normally
    assert system.respond(tone(1.0)).response.text


def test_the_reply_streams_once_its_field_starts(model_dir, monkeypatch):
    """With a model that writes the fields, only the reply is spoken, in the response emotion's voice."""
    system = build_system(DUMMIES, f"paralingpt:model={model_dir},device=cpu,max_sentences=none")

    def fake_pieces(self, max_new_tokens=64, temperature=0.0, top_p=1.0, seed=0):
        self.generated = " response emotion: happy | reply: Great news. Tell me more!"
        yield from [" response", " emotion:", " happy", " |", " reply", ":", " Great", " news.", " Tell me", " more!"]

    monkeypatch.setattr(inference_module.Reading, "pieces", fake_pieces)
    events = list(system.stream(tone(1.0)))
    text = "".join(e.text for e in events if e.kind == "text")
    assert text == "Great news. Tell me more!"
    turn = events[-1].turn
    assert turn.response.text == "Great news. Tell me more!"
    assert turn.response.style.emotion == "happy"
    strategy, style = voice_for(system.config, turn.emotion.label, "happy")
    assert (turn.response.strategy, turn.response.style) == (strategy.name, style)


def test_voice_follows_the_response_emotion():
    config = PipelineConfig.default()
    comfort = config.strategy_for("sad")
    assert voice_for(config, "sad", "calm") == (comfort, comfort.style)  # agrees with the user's strategy
    assert voice_for(config, "sad", None) == (comfort, comfort.style)  # missing: the user's strategy
    strategy, style = voice_for(config, "sad", "happy")  # disagrees: the response emotion's strategy
    assert strategy == config.strategy_for("happy") and style.emotion == "happy"


def test_paralingpt_needs_speech(system):
    with pytest.raises(ConfigError, match="only text"):
        system.respond(Utterance(text="hello"))


def test_missing_packaged_checkpoint_says_how_to_train(monkeypatch, tmp_path):
    monkeypatch.setattr(inference_module, "PACKAGED_DIR", tmp_path / "none")
    with pytest.raises(ModelNotFoundError, match="paralingpt train"):
        inference_module.ParalinGPT.from_pretrained(None)


def test_cli_respond_with_paralingpt(monkeypatch, capsys, model_dir, tmp_path):
    import soundfile as sf

    clip = tmp_path / "clip.wav"
    sf.write(str(clip), tone(1.2).samples, 16000)
    config = tmp_path / "dummy.yaml"
    config.write_text("asr: dummy\nser: dummy\nllm: dummy\ntts: dummy\n")
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "emotionlayer",
            "respond",
            str(clip),
            "-c",
            str(config),
            "--system",
            f"paralingpt:model={model_dir},device=cpu,max_new_tokens=8",
            "-o",
            str(tmp_path / "r.wav"),
            "--json",
        ],
    )
    try:
        cli.main()
    except SystemExit as exc:
        assert not exc.code
    data = json.loads(capsys.readouterr().out)
    assert data["system"] == "paralingpt" and data["transcript"] == "my phone won't turn on"
    assert data["response"]["text"] and set(data["timings"]) == TIMINGS


@pytest.mark.slow
def test_the_packaged_checkpoint_answers_a_turn():
    """The shipped checkpoint with the packaged whisper tiny.en and SmolLM2 (loads the LLM: about a minute)."""
    assert (inference_module.PACKAGED_DIR / "MODEL_CARD.md").is_file()
    system = build_system(DUMMIES, "paralingpt:device=cpu,max_new_tokens=32")
    turn = system.respond(Utterance(tone(1.5), text="my phone won't turn on"))
    assert turn.system == "paralingpt" and turn.response.text
    assert set(turn.emotion.probabilities) == set(EMOTIONS)


def test_sampled_evaluation_runs_differ_by_seed_and_the_same_seed_repeats(model_dir, sampled_runs):
    spec = f"paralingpt:model={model_dir},device=cpu,max_new_tokens=12,max_sentences=none"
    first, again, shifted = sampled_runs(spec, seed=0), sampled_runs(spec, seed=0), sampled_runs(spec, seed=1)
    assert first == again  # the same seed gives the same replies
    assert first[0] != first[1]  # run r samples with seed S + r, so the runs differ
    assert shifted[0] == first[1]  # --seed 1's first run is --seed 0's second
