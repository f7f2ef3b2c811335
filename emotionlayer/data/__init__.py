"""Data: manifests of audio clips (and, later, dataset generation)."""

from .manifest import ManifestError, ManifestRow, read_manifest, write_manifest

__all__ = ["ManifestError", "ManifestRow", "read_manifest", "write_manifest"]
