"""events backends; importing this package registers them."""

from . import default  # noqa: F401
