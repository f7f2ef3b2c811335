"""Pluggable components: SER, ASR, LLM, TTS and paralinguistic event detection."""
