"""Speech emotion recognition: features, heads, models, training and cross-validation.

Quick use::

    from emotionlayer.audio import load_audio
    from emotionlayer.ser import load_ser_model

    model = load_ser_model()                  # the packaged default model
    print(model.predict(load_audio("clip.wav")).top(3))

Training::

    from emotionlayer.ser import train_ser
    model, cv = train_ser("path/to/manifest.csv", out="my-ser", features="whisper-tiny.en", cross_validate=True)
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "SERModel",
    "SERMember",
    "load_ser_model",
    "train_ser",
    "cross_validate_features",
    "extract_features",
    "build_features",
    "build_head",
    "model_card",
    "DEFAULT_MODEL_DIR",
]

_WHERE = {
    "SERModel": "model",
    "SERMember": "model",
    "load_ser_model": "model",
    "DEFAULT_MODEL_DIR": "model",
    "train_ser": "train",
    "cross_validate_features": "train",
    "extract_features": "train",
    "model_card": "train",
    "build_features": "features",
    "build_head": "heads",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
