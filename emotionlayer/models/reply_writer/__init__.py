"""The reply writer: low-rank adapters that fine-tune the packaged LLM to answer what was said, how it was
said, and the conversation so far (trained on StyleTalk). Training is here; the backends load the result
through :mod:`emotionlayer.components.llm.adapters`."""
