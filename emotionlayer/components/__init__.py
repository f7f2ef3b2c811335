"""Pluggable components: SER, ASR, LLM, TTS, paralinguistic event detection and voice activity detection (VAD)."""
