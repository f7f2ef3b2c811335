"""events backends; importing this package registers them."""
