"""asr backends; importing this package registers them."""
