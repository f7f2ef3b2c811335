"""Emotional spoken-dialogue dataset generation, in the style of E-chat200 (see :mod:`.run`)."""

from .card import build_card, render_card, write_card
from .run import (
    DEFAULT_SPLITS,
    DEFAULT_TEMPLATE,
    DEFAULT_VOICES,
    LANGUAGES,
    SPLIT_NAMES,
    GenerationSummary,
    PlannedRow,
    SeedUtterance,
    VoiceSpec,
    check_voices,
    default_voices,
    generate_dataset,
    load_seeds,
    packaged_seed_file,
    plan_rows,
    split_for,
)

__all__ = [
    "DEFAULT_SPLITS",
    "DEFAULT_TEMPLATE",
    "DEFAULT_VOICES",
    "LANGUAGES",
    "SPLIT_NAMES",
    "GenerationSummary",
    "PlannedRow",
    "SeedUtterance",
    "VoiceSpec",
    "build_card",
    "check_voices",
    "default_voices",
    "generate_dataset",
    "load_seeds",
    "packaged_seed_file",
    "plan_rows",
    "render_card",
    "split_for",
    "write_card",
]
