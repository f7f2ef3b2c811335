"""ser backends; importing this package registers them."""
