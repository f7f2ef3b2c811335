"""guard backends (reply guards: check what the LLM wrote before it is spoken); importing this package
registers them. ``guard: none`` in the config (the default) builds no guard."""

from typing import Any

from . import default  # noqa: F401  default (relevance, invented facts, strategy clash; MiniLM embeddings)


def build_guard(config: Any) -> Any:
    """The reply guard a pipeline config names (its ``guard`` section), or ``None`` for ``guard: none``."""
    from ...registry import create

    if config.guard.backend == "none":
        return None
    return create("guard", config.guard.backend, **config.guard.params)
