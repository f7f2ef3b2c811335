"""LLM backends; importing this package registers them.

- ``llama-cpp``: a GGUF model through llama-cpp-python; the default, with the packaged SmolLM2-135M-Instruct.
- ``transformers``: a transformers causal LM from a local folder (or a folder plus a GGUF file).
- ``openai``: any OpenAI-compatible HTTP server (Ollama, vLLM, llama.cpp server); standard library only.

Every backend has ``generate(messages, **options) -> str`` and ``stream_generate(messages, **options)``,
whose pieces join to the same reply; both shape it for speech (see :mod:`._reply`).
"""

from ._reply import DEFAULT_STOPS, GenerationOptions, ReplyShaper, SentenceCounter, check_messages, first_sentences
from .hf_transformers import TransformersLLM
from .llamacpp import LlamaCppLLM
from .openai_http import OpenAICompatibleLLM
from .packaged import find_packaged_gguf, packaged_gguf

__all__ = [
    "DEFAULT_STOPS",
    "GenerationOptions",
    "LlamaCppLLM",
    "OpenAICompatibleLLM",
    "ReplyShaper",
    "SentenceCounter",
    "TransformersLLM",
    "check_messages",
    "find_packaged_gguf",
    "first_sentences",
    "packaged_gguf",
]
