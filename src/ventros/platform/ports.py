"""Ports: what one context offers another without an import, so that two contexts that
need each other do not import each other. The context that needs a capability declares
its key (`PortKey[SomeProtocol]`, in its `ports.py`); the context that has it provides an
implementation in its `wire(container)`; the runtime puts them on the container."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class PortKey(Generic[T]):
    name: str


class PortMissing(LookupError):
    """No context provided this port: the runtime's wiring misses a line."""


class Ports:
    def __init__(self) -> None:
        self._provided: dict[str, Any] = {}

    def provide(self, key: PortKey[T], implementation: T) -> None:
        """Provide `key`; again with the same implementation is harmless (wired twice)."""
        if self._provided.get(key.name, implementation) is not implementation:
            raise ValueError(f"port {key.name!r} is provided twice")
        self._provided[key.name] = implementation

    def get(self, key: PortKey[T]) -> T:
        try:
            found: T = self._provided[key.name]
        except KeyError:
            raise PortMissing(f"no context provides the port {key.name!r}") from None
        return found
