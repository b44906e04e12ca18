"""The table of emulated Bot API methods, filled by ``@api_method`` in the method modules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from tests.bot.emulator.params import Params
from tests.bot.emulator.state import EmulatorState

#: A method implementation: plain or ``async``, returning the reply's ``result``.
MethodFn = Callable[[EmulatorState, Params], Any]
F = TypeVar("F", bound=MethodFn)


@dataclass(frozen=True)
class MethodSpec:
    """A registered method: its canonical name and implementation."""

    name: str
    fn: MethodFn


@dataclass(frozen=True)
class Described:
    """A result whose reply also carries a ``description`` (e.g. "Webhook was set")."""

    result: Any
    description: str


#: Lower-cased method name -> spec; Telegram matches method names case-insensitively.
METHODS: dict[str, MethodSpec] = {}


def api_method(name: str) -> Callable[[F], F]:
    """Register the decorated function as the Bot API method ``name``."""

    def register(fn: F) -> F:
        METHODS[name.lower()] = MethodSpec(name, fn)
        return fn

    return register
