"""guard backends (reply guards: check what the LLM wrote before it is spoken); importing this package
registers them. ``guard: none`` in the config (the default) builds no guard."""

from . import default  # noqa: F401  default (relevance, invented facts, strategy clash; MiniLM embeddings)
