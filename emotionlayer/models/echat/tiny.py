"""Tiny randomly initialised backbones for tests and smoke runs (seconds on a CPU, no downloads).

Each builder writes a Hugging Face folder that E-chat loads by path, made from transformers' own
classes: a 2-layer whisper, wav2vec2, HuBERT or WavLM encoder, and a 2-layer Llama with a small byte-level BPE tokenizer
trained on the given sentences. Outputs are meaningless; shapes, masks and training mechanics are real.

Example::

    from emotionlayer.models.echat import EChatConfig
    from emotionlayer.models.echat.tiny import tiny_llm, tiny_whisper

    config = EChatConfig(encoder=str(tiny_whisper(tmp / "enc")), llm=str(tiny_llm(tmp / "llm")), connector_dim=32)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Union

from ...audio import SAMPLE_RATE

PathLike = Union[str, os.PathLike]

#: The tiny encoders' size: hidden width (feed-forward twice that), layers and attention heads.
ENCODER_WIDTH = 32
ENCODER_LAYERS = 2
ENCODER_HEADS = 2

#: Sentences the tiny tokenizer is trained on (the default targets of tests).
SENTENCES: tuple[str, ...] = (
    "Transcribe the speech.",
    "You are requested to provide a comforting response based on the emotion conveyed in this speech.",
    "kids are talking by the door",
    "dogs are sitting by the door",
    "I am so sorry to hear that.",
    "That is wonderful news!",
    "Take a deep breath, it will be fine.",
    "Hello there, how are you today?",
)


def _save_random(model_class: Any, config: Any, seed: int, out: Path) -> Path:
    """Save a model of ``model_class`` made from ``config`` with random weights drawn from ``seed`` to ``out``."""
    import torch

    torch.manual_seed(seed)
    model_class(config).save_pretrained(str(out))
    return out


def tiny_llm(
    folder: PathLike,
    sentences: Sequence[str] = SENTENCES,
    seed: int = 0,
    hidden_size: int = 32,
    initializer_range: float = 0.02,
    pretrain_steps: int = 0,
) -> Path:
    """Write a tiny random ``LlamaForCausalLM`` and a byte-level BPE tokenizer (``<s>``, ``</s>``, ``<pad>``).

    A larger ``initializer_range`` makes the random LLM react more to its input embeddings, so that a
    connector trained in front of it can lower the loss visibly within a few steps.

    With ``pretrain_steps`` the LLM is first trained for that many steps as a language model of the
    sentences (:func:`pretrain_on_sentences`), as a real LLM has learned its language: a frozen random LLM
    cannot be steered to write a given sentence (even free soft-prompt vectors in front of one leave about
    2.3 nats per token after 300 steps), so only a pretrained one shows whether an adapter can overfit.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320,
        special_tokens=["<pad>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(list(sentences) * 4, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    tokenizer.save_pretrained(str(out))
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
        initializer_range=initializer_range,
    )
    if not pretrain_steps:
        return _save_random(LlamaForCausalLM, config, seed, out)
    import torch

    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    pretrain_on_sentences(model, tokenizer, sentences, pretrain_steps, seed)
    model.save_pretrained(str(out))
    return out


def pretrain_on_sentences(model: Any, tokenizer: Any, sentences: Sequence[str], steps: int, seed: int = 0) -> None:
    """Train a tiny causal LM in place on every pair of ``sentences``: ``<s> A`` newline ``B </s>`` (AdamW, 1e-2).

    After a few hundred steps it writes any of the sentences fluently after any other text and a newline,
    but which one is left open: what chooses it must come from the input (the speech in front of it).
    """
    import random

    import torch
    import torch.nn.functional as F

    texts = [f"{a}\n{b}" for a in sentences for b in sentences]
    rows = [
        [tokenizer.bos_token_id, *tokenizer(t, add_special_tokens=False)["input_ids"], tokenizer.eos_token_id]
        for t in texts
    ]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), tokenizer.pad_token_id)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
    labels = ids.masked_fill(ids == tokenizer.pad_token_id, -100)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
    rng = random.Random(seed)
    model.train()
    for _ in range(steps):
        pick = torch.tensor(rng.sample(range(len(rows)), min(16, len(rows))))
        logits = model(input_ids=ids[pick], attention_mask=(labels[pick] != -100).long()).logits
        loss = F.cross_entropy(logits[:, :-1].flatten(0, 1), labels[pick][:, 1:].flatten(), ignore_index=-100)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()


def tiny_whisper(folder: PathLike, seed: int = 0, max_seconds: float = 4.0) -> Path:
    """Write a tiny random Hugging Face ``WhisperModel`` (2 encoder layers, width 32) taking ``max_seconds``."""
    from transformers import WhisperConfig, WhisperModel

    out = Path(folder)
    positions = int(max_seconds * 50)
    config = WhisperConfig(
        vocab_size=64,
        num_mel_bins=80,
        d_model=ENCODER_WIDTH,
        encoder_layers=ENCODER_LAYERS,
        encoder_attention_heads=ENCODER_HEADS,
        encoder_ffn_dim=2 * ENCODER_WIDTH,
        decoder_layers=1,
        decoder_attention_heads=2,
        decoder_ffn_dim=64,
        max_source_positions=positions,
        max_target_positions=16,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=1,
    )
    return _save_random(WhisperModel, config, seed, out)


def tiny_ssl(folder: PathLike, model_type: str = "wav2vec2", seed: int = 0) -> Path:
    """Write a tiny random self-supervised speech model (2 layers, width 32, 50 frames per second).

    Args:
        folder: Where to save it.
        model_type: ``wav2vec2``, ``hubert`` or ``wavlm``.
        seed: Seed of the random weights.
    """
    from transformers import HubertConfig, HubertModel, Wav2Vec2Config, Wav2Vec2Model, WavLMConfig, WavLMModel

    classes = {
        "wav2vec2": (Wav2Vec2Config, Wav2Vec2Model),
        "hubert": (HubertConfig, HubertModel),
        "wavlm": (WavLMConfig, WavLMModel),
    }
    if model_type not in classes:
        raise ValueError(f"model_type must be one of {', '.join(classes)}, got {model_type!r}.")
    config_class, model_class = classes[model_type]
    out = Path(folder)
    config = config_class(
        vocab_size=16,
        hidden_size=ENCODER_WIDTH,
        num_hidden_layers=ENCODER_LAYERS,
        num_attention_heads=ENCODER_HEADS,
        intermediate_size=2 * ENCODER_WIDTH,
        conv_dim=(16, 16, 16),
        conv_kernel=(10, 4, 4),
        conv_stride=(5, 8, 8),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        feat_extract_norm="layer",
        do_stable_layer_norm=True,
    )
    return _save_random(model_class, config, seed, out)


def tiny_ct2_whisper_encoder(seed: int = 0):
    """A tiny random :class:`emotionlayer.encoders.whisper.WhisperEncoder` (2 layers, width 32), in memory."""
    import torch

    from ...encoders.whisper import WhisperEncoder, WhisperEncoderConfig

    torch.manual_seed(seed)
    config = WhisperEncoderConfig(
        n_mels=80, n_ctx=1500, d_model=ENCODER_WIDTH, n_heads=ENCODER_HEADS, n_layers=ENCODER_LAYERS
    )
    encoder = WhisperEncoder(config)
    with torch.no_grad():
        encoder.positional_embedding.normal_(0, 0.02)
    return encoder.eval()


#: (text, emotion, reply) of the clips :func:`tiny_dataset` writes, in turn.
DATASET_ROWS: tuple[tuple[str, str, str], ...] = (
    ("kids are talking by the door", "happy", "That is wonderful news!"),
    ("dogs are sitting by the door", "sad", "I am so sorry to hear that."),
    ("Hello there, how are you today?", "angry", "Take a deep breath, it will be fine."),
    ("kids are talking by the door", "neutral", "Hello there, how are you today?"),
)


def tiny_dataset(folder: PathLike, n_clips: int = 4, seed: int = 0) -> Path:
    """Write ``n_clips`` short synthetic clips (tones in noise, 0.5-1.3 s) and a ``manifest.csv`` for them.

    Columns: ``path``, ``text``, ``emotion``, ``reply`` (cycling through :data:`DATASET_ROWS`).

    Returns:
        The manifest path.
    """
    import csv

    import numpy as np
    import soundfile as sf

    out = Path(folder)
    (out / "clips").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_clips):
        text, emotion, reply = DATASET_ROWS[i % len(DATASET_ROWS)]
        seconds = 0.5 + 0.8 * ((i * 0.37) % 1.0)
        t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
        samples = 0.3 * np.sin(2 * np.pi * (150 + 60 * i) * t) + 0.02 * rng.standard_normal(len(t))
        name = f"clips/clip{i:03d}.wav"
        sf.write(str(out / name), samples.astype(np.float32), SAMPLE_RATE)
        rows.append({"path": name, "text": text, "emotion": emotion, "reply": reply})
    manifest = out / "manifest.csv"
    with open(manifest, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["path", "text", "emotion", "reply"])
        writer.writeheader()
        writer.writerows(rows)
    return manifest
