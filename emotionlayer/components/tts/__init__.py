"""tts backends; importing this package registers them."""
