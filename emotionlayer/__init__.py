"""emotionlayer: emotion-sensitive spoken dialogue."""

__version__ = "0.1.0"
