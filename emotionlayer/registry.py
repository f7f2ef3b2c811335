"""One registry per component kind (``ser``, ``asr``, ``llm``, ``tts``, ``events``, ``vad``, ``guard``, ``vc``) and
for dialogue systems.

Backends register themselves with a decorator::

    from emotionlayer.registry import register

    @register("asr", "my-asr")
    class MyASR:
        requires = ("my_asr_lib",)      # import names checked by `emotionlayer components`
        extra = "my-asr"                # pip install "emotionlayer[my-asr]" makes it usable
        def __init__(self, model: str = "small"): ...
        def transcribe(self, audio): ...

and are built by name with :func:`create`. Third-party packages add backends through entry points in the
groups ``emotionlayer.<kind>`` (``emotionlayer.ser``, ``emotionlayer.asr``, ... ``emotionlayer.vc``): the entry
point loads the class, whose module calls :func:`register` or which is registered under the entry point's name.

Dialogue systems (kind ``system``: the cascade, end-to-end models, toplines) register the same way, in the
entry-point group ``emotionlayer.system``. A system class is built with its classmethod
``from_config(config, **params)`` (see :func:`emotionlayer.systems.build_system`), since a system builds
its own components from the pipeline config.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, TypeVar

from .errors import ConfigError, MissingDependencyError, UnknownComponentError

logger = logging.getLogger(__name__)

KINDS: tuple[str, ...] = ("ser", "asr", "llm", "tts", "events", "vad", "guard", "vc", "system")

# Built-in backends live in these packages; importing one registers its backends. Backend modules
# import their heavy libraries inside methods, so importing them is cheap.
_BUILTIN_PACKAGES: dict[str, str] = {kind: f"emotionlayer.components.{kind}" for kind in KINDS}
_BUILTIN_PACKAGES["system"] = "emotionlayer.systems.builtin"

_REGISTRY: dict[str, dict[str, type]] = {kind: {} for kind in KINDS}
_LOADED: set[str] = set()

T = TypeVar("T", bound=type)


@dataclass(frozen=True)
class ComponentInfo:
    """What `emotionlayer components` reports about one backend."""

    kind: str
    name: str
    usable: bool
    reason: str
    description: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "usable": self.usable, "reason": self.reason}


def _check_kind(kind: str) -> None:
    if kind not in _REGISTRY:
        raise ConfigError(f"Unknown component kind {kind!r}. Valid kinds: {', '.join(KINDS)}.")


def register(kind: str, name: str) -> Callable[[T], T]:
    """Class decorator that registers a backend class under ``name`` for component ``kind``."""
    _check_kind(kind)

    def decorator(cls: T) -> T:
        existing = _REGISTRY[kind].get(name)
        if existing is not None and existing is not cls:
            logger.warning("Backend %s/%s re-registered: %s replaces %s", kind, name, cls, existing)
        _REGISTRY[kind][name] = cls
        cls.registry_name = name  # type: ignore[attr-defined]
        cls.registry_kind = kind  # type: ignore[attr-defined]
        return cls

    return decorator


@contextmanager
def registered(kind: str, name: str, cls: T) -> Iterator[T]:
    """Register ``cls`` as ``name`` for component ``kind`` inside a ``with`` block only.

    For tests and notebooks that define a throw-away backend or system: nothing stays registered after
    the block, and a backend that had the name before gets it back. Worker processes do not see it
    (they import the modules that register their backends).

    Example:
        >>> with registered("system", "my-echo", MyEcho):
        ...     build_system(None, "my-echo")
    """
    _check_kind(kind)
    _load(kind)  # the built-ins first, so that leaving the block never unloads one of them
    previous = _REGISTRY[kind].get(name)
    _REGISTRY[kind][name] = cls
    cls.registry_name = name  # type: ignore[attr-defined]
    cls.registry_kind = kind  # type: ignore[attr-defined]
    try:
        yield cls
    finally:
        if previous is None:
            _REGISTRY[kind].pop(name, None)
        else:
            _REGISTRY[kind][name] = previous


def _load(kind: str) -> None:
    if kind in _LOADED:
        return
    _LOADED.add(kind)
    importlib.import_module(_BUILTIN_PACKAGES[kind])
    for ep in entry_points(group=f"emotionlayer.{kind}"):
        try:
            obj = ep.load()
        except Exception as exc:  # a broken plugin must not break the library
            logger.warning("Could not load emotionlayer plugin %s (%s): %s", ep.name, ep.value, exc)
            continue
        if inspect.isclass(obj) and ep.name not in _REGISTRY[kind]:
            register(kind, ep.name)(obj)


def available(kind: str) -> list[str]:
    """Names of every registered backend of ``kind`` (built-in and plugins), sorted."""
    _check_kind(kind)
    _load(kind)
    return sorted(_REGISTRY[kind])


def get_class(kind: str, name: str) -> type:
    """The backend class registered as ``name``; the error lists the valid names."""
    _check_kind(kind)
    _load(kind)
    try:
        return _REGISTRY[kind][name]
    except KeyError:
        raise UnknownComponentError(
            f"Unknown {kind} backend {name!r}. Available {kind} backends: {', '.join(available(kind))}. "
            "Run `emotionlayer components` to see which are usable here."
        ) from None


def _missing_module(cls: type) -> str | None:
    """The first module a backend class ``requires`` that is not installed, or ``None``."""
    for module in getattr(cls, "requires", ()):
        if importlib.util.find_spec(module.split(".")[0]) is None:
            return module
    return None


def missing_requirement(cls: type) -> str | None:
    """Why a backend class is not usable here, or ``None`` if it is.

    A class declares ``requires`` (import names) and ``extra`` (the install extra); it may also define a
    classmethod ``check_usable()`` returning a reason string (e.g. packaged weights not found).
    """
    module = _missing_module(cls)
    if module is not None:
        return MissingDependencyError(module, getattr(cls, "extra", None)).args[0]
    check = getattr(cls, "check_usable", None)
    if check is not None:
        try:
            return check()
        except Exception as exc:  # a failing check means "not usable", with the reason
            return f"{type(exc).__name__}: {exc}"
    return None


def _parse_value(text: str) -> Any:
    lowered = text.lower()
    if lowered in ("true", "yes"):
        return True
    if lowered in ("false", "no"):
        return False
    if lowered in ("none", "null"):
        return None
    for number in (int, float):
        try:
            return number(text)
        except ValueError:
            pass
    return text


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """Split a command-line backend spec ``"name:key=value,key=value"`` into the name and its parameters.

    Values are read as bool (true/false/yes/no), None (none/null), int, float or else str.

    Example:
        >>> parse_spec("faster-whisper:model=base,beam_size=5")
        ('faster-whisper', {'model': 'base', 'beam_size': 5})
    """
    name, _, rest = spec.partition(":")
    params: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"Cannot read {item!r} in {spec!r}: write backend parameters as KEY=VALUE, comma-separated "
                "(e.g. espeak-ng:voice=en-gb,base_pitch=40)."
            )
        params[key.strip()] = _parse_value(value.strip())
    if not name.strip():
        raise ConfigError(f"No backend name in {spec!r}. Write NAME or NAME:KEY=VALUE,...")
    return name.strip(), params


def factory(kind: str, cls: type) -> Callable[..., Any]:
    """What builds an object of a registered class: ``cls.from_config`` for systems, else ``cls`` itself."""
    if kind == "system":
        build = getattr(cls, "from_config", None)
        if build is None:
            raise ConfigError(
                f"The dialogue system {cls.__name__} has no classmethod from_config(config, **params); "
                "a system builds itself from a pipeline config."
            )
        return build
    return cls


def create(kind: str, name: str, **params: Any) -> Any:
    """Build a backend (or, for kind ``system``, a dialogue system) by name with its parameters.

    Raises:
        UnknownComponentError: ``name`` is not registered (the message lists the valid names).
        ConfigError: a parameter the backend does not take (the message lists the ones it does).
        MissingDependencyError: the backend's optional dependency is not installed.
    """
    cls = get_class(kind, name)
    build = factory(kind, cls)
    signature = inspect.signature(build.__init__ if build is cls else build)
    accepts_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values())
    if not accepts_kwargs:
        valid = [p for p in signature.parameters if p not in ("self", "cls")]
        unknown = sorted(set(params) - set(valid))
        if unknown:
            raise ConfigError(
                f"{kind} backend {name!r} does not take {', '.join(unknown)}. "
                f"Its parameters are: {', '.join(valid) or '(none)'}."
            )
    module = _missing_module(cls)
    if module is not None:
        raise MissingDependencyError(module, getattr(cls, "extra", None), purpose=f"the {kind} backend {name!r}")
    return build(**params)


def describe(kind: str | None = None) -> list[ComponentInfo]:
    """Every registered backend (of one kind, or all) and whether it is usable on this machine."""
    kinds = [kind] if kind else list(KINDS)
    out: list[ComponentInfo] = []
    for k in kinds:
        for name in available(k):
            cls = _REGISTRY[k][name]
            reason = missing_requirement(cls)
            doc = (inspect.getdoc(cls) or "").splitlines()
            out.append(ComponentInfo(k, name, reason is None, reason or "ok", doc[0] if doc else ""))
    return out


def unusable_reason(kind: str, name: str) -> str | None:
    """Why the ``kind`` backend ``name`` cannot run here, or ``None`` if it can.

    Unlike :func:`get_class`, an unknown name is not an error but a reason (which lists the valid names),
    so callers can check a list of backends and report every problem at once.

    Example:
        >>> unusable_reason("tts", "no-such-voice")
        "no tts backend named 'no-such-voice' (available: ...)"
    """
    if name not in available(kind):
        return f"no {kind} backend named {name!r} (available: {', '.join(available(kind))})"
    return missing_requirement(get_class(kind, name))
