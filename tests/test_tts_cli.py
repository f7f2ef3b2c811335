"""`emotionlayer speak`: the TTS command function, run through typer."""

from __future__ import annotations

import json

import pytest
import soundfile as sf
import typer
from typer.testing import CliRunner

from emotionlayer.cli.tts import parse_backend, speak
from emotionlayer.errors import ConfigError

pytest.importorskip("piper")

app = typer.Typer()
app.command()(speak)
app.command("other")(lambda: None)  # two commands, so typer keeps `speak` as a subcommand name


def test_speak_writes_a_wav_in_the_acted_style(tmp_path):
    out = tmp_path / "sad.wav"
    result = CliRunner().invoke(
        app, ["speak", "My phone won't turn on. [sigh]", "--emotion", "sad", "-o", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    info = sf.info(str(out))
    assert info.samplerate == data["sample_rate"] == 22050
    assert data["style"]["name"] == "sad" and data["style"]["pitch_semitones"] == -3.0
    assert info.duration == pytest.approx(data["duration"], abs=0.01)


def test_reply_to_uses_the_pipeline_style_and_overrides_apply(tmp_path):
    out = tmp_path / "reply.wav"
    result = CliRunner().invoke(
        app, ["speak", "I hear you.", "--reply-to", "angry", "--volume", "0.5", "-o", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    style = json.loads(result.output)["style"]
    assert style["rate"] < 1.0 and style["volume"] == 0.5


def test_bad_options_raise_library_errors(tmp_path):
    result = CliRunner().invoke(app, ["speak", "Hi.", "--emotion", "sad", "--reply-to", "angry"])
    assert isinstance(result.exception, ConfigError)
    assert parse_backend("espeak-ng:voice=cmn,base_pitch=40,ssml=true") == (
        "espeak-ng",
        {"voice": "cmn", "base_pitch": 40, "ssml": True},
    )
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_backend("piper:model_path")
