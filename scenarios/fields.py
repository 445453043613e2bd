"""Readers of the values a scenario or batch file writes: each checks one key's type and says
where it is and what was expected when it is wrong."""

from __future__ import annotations

import math
from collections.abc import Callable

from fragcge.errors import ScenarioError
from fragcge.scenarios.messages import unknown
from fragcge.scenarios.source import SourceFile
from fragcge.scenarios.spec import Route

Where = Callable[[str], str]
"""Names the place of a key in the file being read, for messages."""

ROUTE_KEYS = ("between", "from", "to", "sectors")
"""The keys that select routes and sectors, read by :func:`route` and :func:`selection`."""
RATE_MODES = ("add", "set")
"""How an ad valorem rate applies: added to the current rate, or replacing it."""


def check_keys(
    table: dict, allowed: tuple[str, ...], source: SourceFile, name: str, index: int | None = None
) -> None:
    """Refuse a key of ``table`` that is not ``allowed``, naming the closest one."""
    for key in table:
        if key not in allowed:
            where = source.where(name, index=index, line_of=key)
            raise unknown(where, "key", key, sorted(allowed))


def required(table: dict, key: str, where: str, expected: str = "") -> object:
    """``table[key]``, or an error saying it is missing (and what it should be, when
    ``expected`` says)."""
    if key not in table:
        raise ScenarioError(f"{where}: missing key {key}" + (f" ({expected})" if expected else ""))
    return table[key]


def text(value: object, where: str) -> str:
    """A non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise ScenarioError(f"{where}: expected a non-empty text in quotes, got {value!r}")
    return value


def number(value: object, where: str) -> float:
    """A finite number (not a boolean), as a float."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ScenarioError(f"{where}: expected a number, got {value!r}")
    return float(value)


def names(value: object, where: str) -> tuple[str, ...]:
    """A name or a non-empty list of names, as a tuple."""
    if isinstance(value, str):
        return (text(value, where),)
    if isinstance(value, list) and value:
        return tuple(text(item, where) for item in value)
    raise ScenarioError(f"{where}: expected a name or a list of names, got {value!r}")


def mode(table: dict, at: Where) -> str:
    """The ``mode`` key: one of RATE_MODES, "add" when left out."""
    value = text(table.get("mode", "add"), at("mode"))
    if value not in RATE_MODES:
        raise unknown(at("mode"), "mode", value, RATE_MODES)
    return value


def route(table: dict, at: Where) -> Route:
    """``between = [A, B]`` (both directions) or ``from = A`` and/or ``to = B``."""
    if "between" in table:
        if "from" in table or "to" in table:
            raise ScenarioError(f"{at('between')}: use either between or from/to, not both")
        sides = table["between"]
        if not isinstance(sides, list) or len(sides) != 2:
            raise ScenarioError(
                f"{at('between')}: expected two sides, between = [A, B], got {sides!r}"
            )
        return Route(names(sides[0], at("between")), names(sides[1], at("between")), True)
    if "from" not in table and "to" not in table:
        raise ScenarioError(
            f"{at('instrument')}: no route: write between = [A, B] (both directions), "
            "or from = A and/or to = B (one direction)"
        )
    exporters = names(table["from"], at("from")) if "from" in table else ()
    importers = names(table["to"], at("to")) if "to" in table else ()
    return Route(exporters, importers, False)


def selection(table: dict, key: str, at: Where) -> str | tuple[str, ...]:
    """Sectors or factors: "all" (the default), a group or code, or a list of them."""
    value = table.get(key, "all")
    return value if isinstance(value, str) and value else names(value, at(key))


def regions(table: dict, at: Where) -> tuple[str, ...]:
    """Blocs and regions a shock applies in; () (the default) means every region."""
    return names(table["regions"], at("regions")) if "regions" in table else ()
