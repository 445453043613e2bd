"""Error and warning wording shared by the scenario loader and resolver."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from fragcge.errors import ScenarioError


class ScenarioWarning(UserWarning):
    """Something in a scenario file has no effect, e.g. a rate on a route with no trade."""


def unknown(where: str, what: str, value: object, allowed: Iterable[str]) -> ScenarioError:
    """An error for a name that is not among ``allowed``, with the closest match if any."""
    allowed = list(allowed)
    return ScenarioError(
        f"{where}: unknown {what} {value!r}{_suggestion(str(value), allowed)}; "
        f"allowed: {', '.join(allowed) or '(none)'}"
    )


def _suggestion(value: str, allowed: list[str]) -> str:
    # Codes are upper case and keys lower case; a wrong case is the commonest slip.
    same_case = [a for a in allowed if a.lower() == value.lower()]
    close = same_case or difflib.get_close_matches(value, allowed, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
