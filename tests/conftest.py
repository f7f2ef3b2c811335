"""Shared fixtures. Tests never need network access or data outside the repository."""

from __future__ import annotations

import os

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
