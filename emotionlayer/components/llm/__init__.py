"""llm backends; importing this package registers them."""
