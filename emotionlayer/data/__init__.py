"""Data: manifests of audio clips, generated dialogue datasets and event recordings; dataset generation."""

from .manifest import (
    DialogueRow,
    EventRow,
    ManifestError,
    ManifestRow,
    read_dialogue_manifest,
    read_event_manifest,
    read_manifest,
    write_manifest,
)

__all__ = [
    "DialogueRow",
    "EventRow",
    "ManifestError",
    "ManifestRow",
    "read_dialogue_manifest",
    "read_event_manifest",
    "read_manifest",
    "write_manifest",
]
