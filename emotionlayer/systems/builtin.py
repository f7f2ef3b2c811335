"""The built-in dialogue systems. Importing this module registers them (the registry does it on first use).

Each system's module registers its class with ``@register("system", NAME)`` and imports its heavy
libraries lazily, so importing them here is cheap.
"""

from .. import pipeline  # noqa: F401  (registers "cascade")
from ..models.echat import system as _echat_system  # noqa: F401,E402  (registers "echat")
from ..models.paralingpt import system as _paralingpt_system  # noqa: F401,E402  (registers "paralingpt")
from . import topline  # noqa: F401  (registers "topline")
