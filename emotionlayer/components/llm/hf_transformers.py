"""Hugging Face transformers causal LMs from a local folder, or a folder plus a GGUF file in it."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ...errors import BackendError, ConfigError, MissingDependencyError, ModelNotFoundError
from ...files import check_weights_folder
from ...registry import register
from ._reply import GenerationOptions, TokenStreamLLM
from .adapters import peft_adapter
from .decoding import sample_token, text_pieces
from .packaged import PACKAGED_LLM_NAME, packaged_gguf

# (folder, gguf file, device, dtype) -> (model, tokenizer)
_MODELS: dict[tuple[str, str | None, str, str], tuple[Any, Any]] = {}
_MODELS_LOCK = threading.Lock()

_DTYPES = ("float32", "float16", "bfloat16")


def _with_adapter(model: Any, folder: Path) -> Any:
    """``model`` with the peft LoRA adapter in ``folder`` merged into its weights (no cost per token)."""
    try:
        from peft import PeftModel
    except ImportError as exc:
        raise MissingDependencyError("peft", "transformers", purpose="loading an LLM adapter") from exc
    return PeftModel.from_pretrained(model, str(folder)).merge_and_unload()


def clear_cache() -> None:
    """Forget every cached transformers model."""
    with _MODELS_LOCK:
        _MODELS.clear()


@register("llm", "transformers")
class TransformersLLM(TokenStreamLLM):
    """Chat with a transformers causal LM stored locally (a model folder, or a folder with a GGUF file).

    The prompt is built with the tokenizer's chat template. The model loads on first use and is cached
    per process. Decoding is a plain token loop with a key/value cache, so the reply streams token by
    token and stops as soon as it is complete; the same seed gives the same reply.

    Args:
        model_path: A folder saved with ``save_pretrained`` (model and tokenizer), or a folder holding
            ``gguf_file``. ``None`` means the packaged SmolLM2-135M-Instruct GGUF (needs ``gguf``; slow
            to load, since transformers de-quantises it).
        gguf_file: Name of a ``.gguf`` file inside ``model_path`` to load the model and tokenizer from.
        device: ``"auto"`` (CUDA if available, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
        dtype: ``"float32"``, ``"float16"`` or ``"bfloat16"``; ``None``: float32 on CPU, float16 on CUDA.
        local_files_only: Never reach a model hub (the default); set False to let ``model_path`` be a
            hub id when you have access to one.
        target_tokens, temperature, top_p, seed, stop, max_sentences, sentence_grace: The reply's generation
            options, each call's defaults (see :class:`GenerationOptions`).
        max_tokens: The old name of ``target_tokens`` (read with a deprecation message).
        allow_pickle: Load weights stored only as pickles (``pytorch_model.bin``), which could run code.
            Off by default: only ``model.safetensors`` or a GGUF file is loaded.
        adapter: A LoRA adapter (peft) applied to the model: ``"packaged"`` (the reply writer fine-tuned on
            StyleTalk that ships with emotionlayer) or a folder written by ``emotionlayer llm finetune``;
            ``None`` runs the bare model. See :mod:`.adapters`.
    """

    requires = ("transformers", "torch")
    extra = "transformers"

    def __init__(
        self,
        model_path: str | None = None,
        gguf_file: str | None = None,
        device: str = "auto",
        dtype: str | None = None,
        local_files_only: bool = True,
        target_tokens: int = 64,
        temperature: float = 0.3,
        top_p: float = 0.9,
        seed: int | None = 0,
        stop: Sequence[str] | None = None,
        max_sentences: int | None = 3,
        sentence_grace: int = 24,
        max_tokens: int | None = None,
        allow_pickle: bool = False,
        adapter: str | None = None,
    ) -> None:
        self.allow_pickle = bool(allow_pickle)
        self.adapter = peft_adapter(adapter)
        if model_path is None:
            path = packaged_gguf()
            self.model_path = str(path.parent)
            self.gguf_file = path.name if gguf_file is None else gguf_file
            self.name = f"{PACKAGED_LLM_NAME} (Q4_1 GGUF, transformers)"
        else:
            local = Path(model_path).expanduser()
            if local.is_file() and local.suffix == ".gguf" and gguf_file is None:
                local, gguf_file = local.parent, local.name
            if local.exists():
                if not local.is_dir():
                    raise ModelNotFoundError(
                        f"{local} is not a model folder. Pass model_path=path/to/folder (saved with "
                        "save_pretrained), or model_path=path/to/folder and gguf_file=model.gguf."
                    )
                if gguf_file is not None and not (local / gguf_file).is_file():
                    raise ModelNotFoundError(f"No {gguf_file} in {local}; check gguf_file=.")
            elif local_files_only:
                raise ModelNotFoundError(
                    f"No model folder at {local}. Pass a local folder saved with save_pretrained(), or "
                    "set local_files_only=False to download a hub model (needs network access)."
                )
            self.model_path = str(local) if local.exists() else str(model_path)
            self.gguf_file = gguf_file
            self.name = f"{gguf_file or Path(self.model_path).name} (transformers)"
        if dtype is not None and dtype not in _DTYPES:
            raise ConfigError(f"dtype must be one of {', '.join(_DTYPES)} or None, got {dtype!r}.")
        self.local_files_only = bool(local_files_only)
        self._eos: set[int] | None = None
        self.device = self._choose_device(device)
        self.dtype = dtype or ("float16" if self.device.startswith("cuda") else "float32")
        if self.adapter is not None:
            self.name += " + " + ("reply-writer adapter" if adapter in ("packaged", True) else f"adapter {adapter}")
        self.options = GenerationOptions.pick(locals())

    @staticmethod
    def _choose_device(device: str) -> str:
        if device == "cpu":
            return "cpu"
        try:
            import torch
        except ImportError as exc:
            raise MissingDependencyError("torch", "transformers", purpose="the llm backend 'transformers'") from exc
        if device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(f"device={device!r} but no CUDA device is available here; use device='cpu'.")
        return device

    def _load(self) -> tuple[Any, Any]:
        key = (self.model_path, self.gguf_file, self.device, self.dtype, str(self.adapter or ""))
        with _MODELS_LOCK:
            if key in _MODELS:
                return _MODELS[key]
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer

            kwargs: dict[str, Any] = {"local_files_only": self.local_files_only}
            weights: dict[str, Any] = {}
            if self.gguf_file:
                kwargs["gguf_file"] = self.gguf_file  # GGUF holds tensors and metadata, no pickle
            else:
                check_weights_folder(self.model_path, "a transformers causal LM", self.allow_pickle)
                if not self.allow_pickle:
                    weights["use_safetensors"] = True
            try:
                tokenizer = AutoTokenizer.from_pretrained(self.model_path, **kwargs)
                model = AutoModelForCausalLM.from_pretrained(
                    self.model_path, dtype=getattr(torch, self.dtype), **kwargs, **weights
                )
            except ImportError as exc:
                raise MissingDependencyError(
                    getattr(exc, "name", None) or "gguf", "transformers", purpose="loading this model"
                ) from exc
            except (OSError, ValueError) as exc:
                raise ModelNotFoundError(
                    f"transformers could not load a causal LM from {self.model_path}"
                    f"{' / ' + self.gguf_file if self.gguf_file else ''}: {exc}. It must hold a model and "
                    "a tokenizer saved with save_pretrained(), or a GGUF file named by gguf_file."
                ) from exc
            if not getattr(tokenizer, "chat_template", None):
                raise ConfigError(
                    f"The tokenizer in {self.model_path} has no chat template. Use an instruction-tuned model, "
                    "or set tokenizer.chat_template and save it again."
                )
            if self.adapter is not None:
                model = _with_adapter(model, self.adapter)
            model.to(self.device).eval()
            _MODELS[key] = (model, tokenizer)
            return _MODELS[key]

    def load(self) -> None:
        """Load the model into the per-process cache now, without generating anything."""
        self._load()

    def warmup(self) -> None:
        """Load the model now instead of on the first reply."""
        self._load()

    def _eos_ids(self, model: Any, tokenizer: Any) -> set[int]:
        if self._eos is not None:
            return self._eos
        ids: set[int] = set()
        for value in (getattr(model.generation_config, "eos_token_id", None), tokenizer.eos_token_id):
            if isinstance(value, int):
                ids.add(value)
            elif value:
                ids.update(int(v) for v in value)
        vocab = tokenizer.get_vocab()
        ids.update(vocab[token] for token in ("<|im_end|>", "<|eot_id|>", "<end_of_turn>") if token in vocab)
        self._eos = ids
        return ids

    def _token_pieces(self, messages: list[dict[str, str]], options: GenerationOptions) -> Iterator[str]:
        import torch

        model, tokenizer = self._load()
        try:
            encoded = tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
            )
        except Exception as exc:  # jinja errors from user templates come in many types
            raise BackendError(f"The chat template of {self.model_path} failed on these messages: {exc}") from exc
        input_ids = encoded["input_ids"].to(self.device)
        max_positions = getattr(model.config, "max_position_embeddings", None)
        if max_positions and input_ids.shape[1] + options.token_budget > max_positions:
            raise BackendError(
                f"The prompt ({input_ids.shape[1]} tokens) plus the reply ({options.token_budget}) exceeds "
                f"the model's {max_positions} positions. Keep fewer past turns or lower target_tokens."
            )
        seed = options.seed if options.seed is not None else random.randrange(2**31)
        generator = torch.Generator(device=self.device).manual_seed(int(seed))
        eos = self._eos_ids(model, tokenizer)

        def tokens() -> Iterator[int]:
            past = None
            step_ids = input_ids
            with torch.inference_mode():
                for _ in range(options.token_budget):
                    out = model(input_ids=step_ids, past_key_values=past, use_cache=True)
                    past = out.past_key_values
                    token = sample_token(out.logits[0, -1], float(options.temperature), float(options.top_p), generator)
                    if token in eos:
                        return
                    step_ids = torch.tensor([[token]], device=self.device)
                    yield token

        yield from text_pieces(tokens(), tokenizer)
