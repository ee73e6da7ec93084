"""One registry type for every extension point (providers, strategies, schedulers, embedders, ...).

Built-ins and plugins register the same way: as entry points of the point's group. A registry also carries the
built-ins as ``"module:attr"`` specs, so a source checkout without installed metadata still works and a lower
layer (config validation) can list the names without importing the layer that implements them. Nothing is
imported until a name is asked for, and a plugin that fails to import only fails the configs that name it."""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, TypeVar, overload

from schemas.errors import ConfigError

__all__ = ["ExtensionPoint", "Registry", "known_names", "require_callable", "unknown_name_message"]

log = logging.getLogger(__name__)
T = TypeVar("T")
F = TypeVar("F")

# group -> the process-wide registry of that group (the one configuration is validated against)
_DEFAULTS: dict[str, Registry[Any]] = {}


@dataclass(frozen=True)
class ExtensionPoint:
    """A kind of plugin: what errors call it, its entry-point group, its built-ins (name -> ``module:attr``)."""

    kind: str
    group: str
    builtins: Mapping[str, str]


def require_callable(obj: object) -> Any:
    """The default shape check: a factory."""
    if not callable(obj):
        raise TypeError(f"expected a callable, got {type(obj).__name__}")
    return obj


def unknown_name_message(kind: str, name: str, names: Iterable[str]) -> str:
    """``unknown <kind> 'x'; registered: a, b (did you mean 'a'?)`` -- one wording for lookups and config checks."""
    ordered = sorted(names)
    message = f"unknown {kind} {name!r}; registered: {', '.join(ordered) or '(none)'}"
    close = difflib.get_close_matches(name, ordered, n=1)
    return message + (f" (did you mean {close[0]!r}?)" if close else "")


def _discover(group: str) -> Iterable[EntryPoint]:
    return entry_points(group=group)


class Registry(Generic[T]):
    """Objects of one extension point by name: registered in code, else entry points, else built-in specs.

    ``adapt`` turns what a spec or ``register`` provides into a ``T`` and raises ``TypeError`` on the wrong shape.
    ``default=True`` makes this the process-wide registry of its group, whose names config validation accepts."""

    def __init__(
        self,
        point: ExtensionPoint,
        *,
        adapt: Callable[[Any], T] = require_callable,
        discover: Callable[[str], Iterable[EntryPoint]] = _discover,
        default: bool = False,
    ) -> None:
        self.point = point
        self._adapt = adapt
        self._discover = discover
        self._builtins = {name: EntryPoint(name, spec, point.group) for name, spec in point.builtins.items()}
        self._specs = dict(self._builtins)
        self._objects: dict[str, T] = {}
        self._discovered = False
        if default:
            _DEFAULTS[point.group] = self

    @overload
    def register(self, name: str) -> Callable[[F], F]: ...

    @overload
    def register(self, name: str, factory: F) -> F: ...

    def register(self, name: str, factory: Any = None) -> Any:
        """Add (or replace) ``name``; without ``factory``, a decorator. Returns what it was given."""

        def add(obj: F) -> F:
            try:
                self._objects[name] = self._adapt(obj)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{self.point.kind} {name!r} registered in code has the wrong shape: {exc}") from exc
            return obj

        return add if factory is None else add(factory)

    def get(self, name: str) -> T:
        """The object named ``name``, imported on first use."""
        if name in self._objects:
            return self._objects[name]
        spec = self._entry_points().get(name)
        if spec is None:
            raise ConfigError(unknown_name_message(self.point.kind, name, self.names()))
        self._objects[name] = self._load(spec)
        return self._objects[name]

    def names(self) -> list[str]:
        """Every name, sorted, without importing any plugin."""
        return sorted(self._objects.keys() | self._entry_points().keys())

    def __contains__(self, name: object) -> bool:
        return name in self._objects or name in self._entry_points()

    def _entry_points(self) -> dict[str, EntryPoint]:
        if not self._discovered:
            self._discovered = True
            for ep in self._discover(self.point.group):
                old = self._specs.get(ep.name)
                if old is not None and old.value != ep.value:
                    log.warning("%s %r: %s replaces %s", self.point.kind, ep.name, self._origin(ep), self._origin(old))
                self._specs[ep.name] = ep
        return self._specs

    def _load(self, ep: EntryPoint) -> T:
        kind = self.point.kind
        try:
            obj = ep.load()
        except Exception as exc:  # any failure to import is the plugin's, and the message must say whose
            raise ConfigError(f"{kind} plugin {ep.name!r} failed to import ({self._origin(ep)}): {exc!r}") from exc
        try:
            return self._adapt(obj)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{kind} plugin {ep.name!r} has the wrong shape ({self._origin(ep)}): {exc}") from exc

    def _origin(self, ep: EntryPoint) -> str:
        if self._builtins.get(ep.name) is ep:
            return f"built-in {ep.name} = {ep.value}"
        dist = getattr(ep, "dist", None)
        return f"entry point {ep.name} = {ep.value} in {ep.group}" + (f" of {dist.name}" if dist else "")


def known_names(point: ExtensionPoint) -> list[str]:
    """The names ``point`` accepts: its default registry's when one exists (it may hold in-code registrations),
    else the built-ins and installed entry points -- without importing the layer that implements them."""
    registry = _DEFAULTS.get(point.group)
    return (Registry(point) if registry is None else registry).names()
