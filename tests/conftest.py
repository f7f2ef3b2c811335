"""Shared fixtures. Tests never need network access or data outside the repository."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", default=False, help="also run tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture()
def kill_at():
    """``kill_at(step)``: a training-step callback that stops the run at that step, as a kill would.

    It raises ``kill_at.Killed``, for ``pytest.raises``.
    """

    class Killed(Exception):
        pass

    def at(step: int):
        def callback(current: int, loss: float) -> None:
            if current == step:
                raise Killed

        return callback

    at.Killed = Killed
    return at


@pytest.fixture()
def repo_script():
    """``repo_script("benchmarks/load_test.py")``: a script of the repository (not a package module), imported."""
    import importlib.util

    root = Path(__file__).resolve().parents[1]

    def load(relative: str) -> Any:
        path = root / relative
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture(scope="module")
def one_thread():
    """Torch on one thread for a module's tests (``pytestmark = pytest.mark.usefixtures("one_thread")``).

    Tiny models run fastest on one thread: two threads on a busy 2-core machine spin-wait.
    """
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class TinyModels:
    """Tiny random backbones for the speech-LLM tests (E-chat, ParalinGPT), each written once per test session.

    The same arguments give the same folder, so tests must only read them. Every call leaves torch's global
    random generator seeded with 0, whether the model was built now or earlier, so what a module's tests
    draw next does not depend on which module built the model first.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._built: dict[tuple[Any, ...], Any] = {}

    def _once(self, key: tuple[Any, ...], build: Callable[[Path], Any]) -> Any:
        import torch

        if key not in self._built:
            self._built[key] = build(self.folder / f"{key[0]}-{len(self._built)}")
        torch.manual_seed(0)
        return self._built[key]

    def llm(self, sentences: Sequence[str] | None = None, initializer_range: float = 0.02) -> str:
        """A tiny random Llama and its tokenizer (trained on ``sentences``; default: the tiny set's).

        A larger ``initializer_range`` (0.2) makes the LLM react to its inputs, so a connector can lower the loss.
        """
        from emotionlayer.models.echat.tiny import SENTENCES, tiny_llm

        chosen = tuple(sentences) if sentences is not None else SENTENCES
        def build(folder: Path) -> str:
            return str(tiny_llm(folder, sentences=chosen, initializer_range=initializer_range))

        return self._once(("llm", chosen, initializer_range), build)

    @property
    def paralingpt_llm(self) -> str:
        """The tiny LLM for ParalinGPT: its tokenizer also learns the serialised fields, so targets are short
        (initializer range 0.2, so a connector can lower the loss)."""
        from emotionlayer.models.echat.tiny import SENTENCES
        from emotionlayer.models.paralingpt import serialise

        sentences = SENTENCES + (
            serialise("sad", "calm", "I am so sorry to hear that."),
            serialise("happy", "happy", "That is wonderful news!"),
            "User said: kids are talking by the door",
        )
        return self.llm(sentences, initializer_range=0.2)

    @property
    def encoder(self) -> str:
        """A tiny random Hugging Face whisper (2 encoder layers, width 32, 4 s)."""
        from emotionlayer.models.echat.tiny import tiny_whisper

        return self._once(("whisper",), lambda folder: str(tiny_whisper(folder)))

    @property
    def manifest(self) -> Path:
        """A training manifest of 4 short synthetic clips (path, text, emotion, reply)."""
        from emotionlayer.models.echat.tiny import tiny_dataset

        return self._once(("data",), lambda folder: tiny_dataset(folder, n_clips=4))


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> TinyModels:
    """:class:`TinyModels`: ``tiny_models.llm(...)``, ``tiny_models.encoder``, ``tiny_models.manifest``."""
    for module in ("torch", "transformers", "tokenizers"):
        pytest.importorskip(module)
    return TinyModels(tmp_path_factory.mktemp("tiny-models"))


@pytest.fixture()
def sampled_runs(tiny_models):
    """``sampled_runs(spec, seed, samples=2)``: the reply texts of ``evaluate dialogue --samples N --seed S``,
    one list per run (over ``tiny_models.manifest``'s clips), from the system ``spec`` with dummy components.
    """
    import emotionlayer.testing  # noqa: F401  (the dummy components)
    from emotionlayer.config import PipelineConfig
    from emotionlayer.evaluation.dialogue import Decoding, answer_clips, check_systems, select_rows
    from emotionlayer.evaluation.dialogue_report import DialogueClip

    clips = [DialogueClip.from_row(row) for row in select_rows(tiny_models.manifest)]
    config = PipelineConfig.coerce({"ser": "dummy", "asr": "dummy", "llm": "dummy", "tts": "dummy"})

    def run(spec: str, seed: int, samples: int = 2) -> list[list[str]]:
        decoding = Decoding(samples=samples, seed=seed, temperature=1.5)
        replies, _ = answer_clips(clips, check_systems([spec]), config, decoding)
        return [[reply.reply for reply in one_run] for one_run in replies[spec]]

    return run
