"""One scenario file's shocks applied, in file order, to the parameter levels the model takes."""

from __future__ import annotations

from fragcge.model.shocks import ShockSet
from fragcge.scenarios.instruments import instrument_of, levels_names
from fragcge.scenarios.select import Selector
from fragcge.scenarios.spec import Scenario


def apply_shocks(start: ShockSet, scenario: Scenario, selector: Selector) -> ShockSet:
    """``start`` with ``scenario``'s own shocks on top, each applied by its instrument's
    registry entry; names resolve through ``selector``."""
    levels = {name: start.level(name) for name in levels_names()}
    for shock in scenario.shocks:
        instrument_of(shock).apply(levels, shock, selector)
    return start.replaced({name: level.copy() for name, level in levels.items()})
