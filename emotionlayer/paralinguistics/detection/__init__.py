"""Paralinguistic event detection: window features, the window classifier, detection and training.

The registered component is ``emotionlayer.registry.create("events", "default")``
(:mod:`emotionlayer.components.events.default`); this package holds the machinery behind it.
"""
