"""The canonical emotion label set and its aliases.

Every component speaks the same eight labels (the RAVDESS set). Datasets and models that use other
names are mapped through :data:`ALIASES`, so ``cheerful`` becomes ``happy`` and ``fear`` becomes
``fearful`` wherever a label enters the library.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .errors import ConfigError

EMOTIONS: tuple[str, ...] = (
    "neutral",
    "calm",
    "happy",
    "sad",
    "angry",
    "fearful",
    "disgusted",
    "surprised",
)

ALIASES: dict[str, str] = {
    "neu": "neutral",
    "neutrality": "neutral",
    "none": "neutral",
    "relaxed": "calm",
    "peaceful": "calm",
    "hap": "happy",
    "happiness": "happy",
    "joy": "happy",
    "joyful": "happy",
    "cheerful": "happy",
    "excited": "happy",
    "glad": "happy",
    "exc": "happy",
    "sadness": "sad",
    "unhappy": "sad",
    "depressed": "sad",
    "despair": "sad",
    "ang": "angry",
    "anger": "angry",
    "mad": "angry",
    "frustrated": "angry",
    "fru": "angry",
    "fear": "fearful",
    "afraid": "fearful",
    "scared": "fearful",
    "anxious": "fearful",
    "fea": "fearful",
    "disgust": "disgusted",
    "dis": "disgusted",
    "contempt": "disgusted",
    "surprise": "surprised",
    "sur": "surprised",
    "surprised_positive": "surprised",
}

#: The four-class subset used in much of the literature (IEMOCAP style).
FOUR_CLASS: tuple[str, ...] = ("neutral", "happy", "sad", "angry")


def canonical(label: str) -> str:
    """Return the canonical name of an emotion label.

    Args:
        label: Any label name, in any case; aliases such as ``cheerful`` or ``fear`` are accepted.

    Returns:
        One of :data:`EMOTIONS`.

    Raises:
        ConfigError: if the label is neither canonical nor a known alias.
    """
    key = str(label).strip().lower().replace("-", "_").replace(" ", "_")
    if key in EMOTIONS:
        return key
    if key in ALIASES:
        return ALIASES[key]
    raise ConfigError(
        f"Unknown emotion label {label!r}. Use one of {', '.join(EMOTIONS)} "
        f"(aliases such as {', '.join(sorted(ALIASES)[:6])}, ... are accepted)."
    )


def canonical_list(labels: Iterable[str] | str) -> list[str]:
    """Canonicalise a list of labels (or a comma-separated string), keeping order, dropping repeats."""
    if isinstance(labels, str):
        labels = [part for part in labels.split(",") if part.strip()]
    out: list[str] = []
    for label in labels:
        name = canonical(label)
        if name not in out:
            out.append(name)
    if not out:
        raise ConfigError("An empty label list was given. Name at least one emotion, e.g. 'neutral,happy,sad,angry'.")
    return out


def restrict(probabilities: dict[str, float], labels: Sequence[str]) -> dict[str, float]:
    """Renormalise a probability table over a subset of labels (the decision is then argmax over them)."""
    keep = canonical_list(labels)
    total = sum(probabilities.get(name, 0.0) for name in keep)
    if total <= 0:
        return {name: 1.0 / len(keep) for name in keep}
    return {name: probabilities.get(name, 0.0) / total for name in keep}
