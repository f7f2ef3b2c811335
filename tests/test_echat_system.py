"""E-chat as a registered dialogue system, on a tiny random model: respond, stream, close, CLI."""

from __future__ import annotations

import json
import sys

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

import emotionlayer.testing  # noqa: E402,F401  (dummy TTS)
from emotionlayer.cli import main as cli  # noqa: E402
from emotionlayer.errors import ConfigError  # noqa: E402
from emotionlayer.labels import EMOTIONS  # noqa: E402
from emotionlayer.models.echat import EChatConfig  # noqa: E402
from emotionlayer.models.echat.checkpoint import save_model_folder  # noqa: E402
from emotionlayer.models.echat.model import build_model  # noqa: E402
from emotionlayer.models.echat.system import EChatSystem  # noqa: E402
from emotionlayer.systems import DialogueSystem, build_system  # noqa: E402
from emotionlayer.testing import tone  # noqa: E402
from emotionlayer.types import Utterance  # noqa: E402

SMALL = {"connector_dim": 32, "connector_heads": 2, "connector_ff_dim": 64, "emotion_hidden_dim": 16}
DUMMIES = {"ser": "dummy", "asr": "dummy", "llm": "dummy", "tts": "dummy"}


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models run fastest on one thread


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, tiny_models):
    root = tmp_path_factory.mktemp("echat-system")
    config = EChatConfig(encoder=tiny_models.encoder, llm=tiny_models.llm(initializer_range=0.2), stage=2, **SMALL)
    torch.manual_seed(5)
    model = build_model(config)
    with torch.no_grad():
        for param in model.trainable_state_dict().values():
            param.add_(0.3 * torch.randn_like(param))
    save_model_folder(root / "model", model.trainable_state_dict(), config, None)
    return root / "model"


@pytest.fixture(scope="module")
def system(model_dir):
    return build_system(DUMMIES, f"echat:model={model_dir},device=cpu,max_new_tokens=12,max_sentences=none")


def test_echat_answers_through_the_system_registry(system):
    assert isinstance(system, EChatSystem) and isinstance(system, DialogueSystem)
    turn = system.respond(tone(1.0))
    assert turn.system == "echat"
    assert set(turn.emotion.probabilities) == set(EMOTIONS)
    assert abs(sum(turn.emotion.probabilities.values()) - 1) < 1e-6
    assert turn.response.text and turn.audio is not None
    # the voice follows the emotion head through the config's strategies
    assert turn.response.strategy == system.config.strategy_for(turn.emotion.label).name
    assert set(turn.timings) == {"encode", "generate", "tts", "total", "time_to_first_audio"}


def test_echat_stream_events_and_closing(system, monkeypatch):
    events = list(system.stream(tone(1.0)))
    kinds = [e.kind for e in events]
    assert kinds[0] == "perceived" and kinds[-1] == "turn" and "text" in kinds
    json.dumps([e.to_dict() for e in events])
    decoded: list[int] = []  # pieces the decoder wrote, one count per turn
    ends: list[str] = []  # how each turn's decoding ended
    decode = system.model.stream_encoded

    def watched(*args, **kwargs):
        decoded.append(0)
        try:
            for piece in decode(*args, **kwargs):
                decoded[-1] += 1
                yield piece
        except GeneratorExit:
            ends.append("closed")
            raise
        ends.append("finished")

    monkeypatch.setattr(system.model, "stream_encoded", watched)
    whole = system.respond(tone(1.0)).response.text
    assert ends == ["finished"] and decoded[0] > 1
    stream = system.stream(tone(1.0))
    for event in stream:
        if event.kind == "text":
            break
    stream.close()  # stops the decoder at once
    assert ends == ["finished", "closed"] and decoded[1] < decoded[0]
    assert system.respond(tone(1.0)).response.text == whole  # the next turn is answered as before


def test_echat_needs_speech(system):
    with pytest.raises(ConfigError, match="answers speech"):
        system.respond(Utterance(text="hello"))


def test_cli_respond_with_echat(monkeypatch, capsys, model_dir, tmp_path):
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
            f"echat:model={model_dir},device=cpu,max_new_tokens=8",
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
    assert data["system"] == "echat" and data["transcript"] == "" and data["response"]["text"]
    assert set(data["timings"]) == {"encode", "generate", "tts", "total", "time_to_first_audio"}


def test_the_packaged_checkpoint_answers_a_real_recording():
    from pathlib import Path

    from emotionlayer.models.echat.inference import PACKAGED_DIR

    if not (PACKAGED_DIR / "model.safetensors").is_file():
        pytest.skip("no packaged E-chat checkpoint")
    clip = Path(__file__).resolve().parents[1] / "examples" / "audio" / "sad_phone.wav"
    system = build_system(DUMMIES, "echat:device=cpu,max_new_tokens=24")
    turn = system.respond(clip)
    assert turn.system == "echat" and len(turn.response.text.split()) >= 2
    assert set(turn.emotion.probabilities) == set(EMOTIONS) and turn.emotion.model.startswith("echat")
    assert turn.audio is not None and turn.audio.duration > 0.3


def test_sampled_evaluation_runs_differ_by_seed_and_the_same_seed_repeats(model_dir, sampled_runs):
    spec = f"echat:model={model_dir},device=cpu,max_new_tokens=12,max_sentences=none"
    first, again, shifted = sampled_runs(spec, seed=0), sampled_runs(spec, seed=0), sampled_runs(spec, seed=1)
    assert first == again  # the same seed gives the same replies
    assert first[0] != first[1]  # run r samples with seed S + r, so the runs differ
    assert shifted[0] == first[1]  # --seed 1's first run is --seed 0's second
