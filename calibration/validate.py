"""Checks of a benchmark against DATA.md: codes, signs, rates and MODEL.md's identities.

Every failure is collected and reported at once, in one DatasetError that names the file,
the field or identity, the region and account codes, and the size of the gap. A specific
factor may be used by several sectors of a region: its endowment is then per sector
(``vfm[f, j, r]``), so nothing ties its sectors together and nothing is checked across them.
Zero profit holds by definition, since ``vom`` is derived from the costs; what can fail is a
sector that sells but has no inputs at all.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fragcge.calibration import accounts
from fragcge.calibration.elasticity_registry import SECTOR_ELASTICITIES
from fragcge.calibration.factor_supply import RULE as SUPPLY_RULE
from fragcge.calibration.factor_supply import TABLE
from fragcge.calibration.sam import GlobalSAM
from fragcge.calibration.schema import (
    ELASTICITY,
    FACTOR_KINDS,
    FINAL_AGENT_NAMES,
    FINAL_ELASTICITIES,
    FLOW,
    OUTPUT_RATE,
    RATE,
    TOML,
    Rule,
)
from fragcge.errors import DatasetError

RTOL = 1e-6
"""Tolerance of every identity, relative to the account it balances."""
FLOOR = 1e-9
"""Accounts below FLOOR times the largest output get the tolerance of an account that size."""
EXAMPLES = 5
"""Failing rows or cells quoted per problem; the rest are counted."""


class Problems:
    """Failures found in one dataset, raised together as one DatasetError."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.messages: list[str] = []

    def add(self, message: str) -> None:
        """Record one failure."""
        self.messages.append(message)

    def raise_if_any(self, note: str = "") -> None:
        """Raise a DatasetError listing every failure recorded so far, if there is one."""
        if self.messages:
            head = f"dataset {self.where} refused, {len(self.messages)} problem(s){note}:"
            body = [f"  {k}. {m}" for k, m in enumerate(self.messages, 1)]
            raise DatasetError("\n".join([head, *body]))


def examples(items: list[str]) -> str:
    """The first few items joined, with a count of the rest."""
    shown = "; ".join(items[:EXAMPLES])
    rest = len(items) - EXAMPLES
    return shown + (f"; and {rest} more" if rest > 0 else "")


# Each array of a GlobalSAM: its tables, column, axes (the kind of code along each) and rule.
_ROUTE = ("commodity", "exporter", "importer")
_PURCHASE = ("commodity", "agent", "region")
_BOTH = ("intermediate", "final_demand")
_FIELDS: dict[str, tuple[tuple[str, ...], str, tuple[str, ...], Rule]] = {
    "vfm": (("factor_payments",), "value", ("factor", "sector", "region"), FLOW),
    "vdfm": (_BOTH, "value", _PURCHASE, FLOW),
    "vifm": (_BOTH, "value", _PURCHASE, FLOW),
    "vxmd": (("trade",), "value", _ROUTE, FLOW),
    "vtwr": (("margins",), "value", ("margin", *_ROUTE), FLOW),
    "vst": (("margin_supply",), "value", ("margin", "region"), FLOW),
    "to0": (("output_taxes",), "rate", ("sector", "region"), OUTPUT_RATE),
    "tf0": (("factor_taxes",), "rate", ("factor", "sector", "region"), RATE),
    "tdf0": (("purchase_taxes",), "rate", _PURCHASE, RATE),
    "tif0": (("purchase_taxes",), "rate", _PURCHASE, RATE),
    "tx0": (("trade_wedges",), "export_tax", _ROUTE, RATE),
    "tm0": (("trade_wedges",), "tariff", _ROUTE, RATE),
    **{e: (("elasticities",), e, ("sector",), ELASTICITY) for e in SECTOR_ELASTICITIES},
}
_OUTPUT_TABLES = ("factor_payments", "intermediate", "output_taxes")
_DOMESTIC_USE_TABLES = ("intermediate", "final_demand", "purchase_taxes", "trade", "margin_supply")
_IMPORT_TABLES = ("trade", "trade_wedges", "margins", "intermediate", "final_demand")


def validate(sam: GlobalSAM, identities: bool = True) -> None:
    """Raise one DatasetError naming every failure of ``sam`` against DATA.md, else nothing.

    ``identities=False`` checks sets, shapes and values only: for a dataset about to be
    balanced, whose identities are what is wrong with it.
    """
    problems = Problems(_where(sam))
    check_sets(sam.regions, sam.sectors, sam.factors, sam.factor_kind, problems)
    unknown = [m for m in sam.margins if m not in sam.sectors]
    if unknown:
        problems.add(
            f"{_files(sam, ('margins', 'margin_supply'))}: margin commodities {', '.join(unknown)} "
            f"are not sectors; allowed: {', '.join(sam.sectors)}"
        )
    problems.raise_if_any()
    _check_shapes(sam, problems)
    problems.raise_if_any()
    _check_values(sam, problems)
    problems.raise_if_any("; identities not checked until these are fixed")
    if not identities:
        return
    _check_identities(sam, problems)
    problems.raise_if_any(
        f" (identities checked to a relative tolerance of {RTOL:g} of each account)"
    )


def _where(sam: GlobalSAM) -> str:
    return str(sam.path) if sam.path else f"'{sam.name}' (in memory)"


def _files(sam: GlobalSAM, tables: tuple[str, ...]) -> str:
    """The files holding ``tables``, spelt as found in the dataset's folder."""
    names = []
    for table in dict.fromkeys(tables):
        found = [
            f"{table}{ext}"
            for ext in (".csv", ".parquet")
            if sam.path is not None and (sam.path / f"{table}{ext}").is_file()
        ]
        names.append(found[0] if found else table)
    return ", ".join(names)


def _codes(sam: GlobalSAM) -> dict[str, tuple[str, ...]]:
    """The codes along each kind of axis, with agents spelt as in the files."""
    return {
        "factor": sam.factors,
        "sector": sam.sectors,
        "commodity": sam.sectors,
        "agent": sam.sectors + FINAL_AGENT_NAMES,
        "region": sam.regions,
        "exporter": sam.regions,
        "importer": sam.regions,
        "margin": sam.margins,
    }


def _cell(sam: GlobalSAM, field: str, index: tuple[int, ...]) -> str:
    """``vxmd[commodity=ELE, exporter=CHN, importer=USA]``."""
    codes = _codes(sam)
    axes = _FIELDS[field][2]
    return (
        f"{field}["
        + ", ".join(f"{a}={codes[a][k]}" for a, k in zip(axes, index, strict=True))
        + "]"
    )


def check_sets(
    regions: tuple[str, ...],
    sectors: tuple[str, ...],
    factors: tuple[str, ...],
    factor_kind: dict[str, str],
    problems: Problems,
) -> None:
    """Record what is wrong with the codes and factor kinds a dataset declares."""
    for kind, codes in (("region", regions), ("sector", sectors), ("factor", factors)):
        repeated = sorted({c for c in codes if codes.count(c) > 1})
        if repeated:
            problems.add(f"{TOML}: {kind} code(s) {', '.join(repeated)} listed more than once")
        blank = [c for c in codes if not c.strip()]
        if blank:
            problems.add(f"{TOML}: blank {kind} code {blank[0]!r}")
    if len(regions) < 2:
        problems.add(
            f"{TOML}: [regions] lists {len(regions)} region(s); the model needs at least 2"
        )
    for f in factors:
        kind = factor_kind.get(f)
        if kind not in FACTOR_KINDS:
            problems.add(
                f"{TOML}: [factors] {f} = {kind!r}; the kind must be 'mobile' or 'specific'"
            )
    clash = [s for s in sectors if s in FINAL_AGENT_NAMES]
    if clash:
        problems.add(
            f"{TOML}: sector code(s) {', '.join(clash)} are reserved for the final agents "
            f"{', '.join(FINAL_AGENT_NAMES)}"
        )


def _check_shapes(sam: GlobalSAM, problems: Problems) -> None:
    size = {kind: len(codes) for kind, codes in _codes(sam).items()}
    for field, (_, _, axes, _) in _FIELDS.items():
        expected = tuple(size[a] for a in axes)
        shape = np.shape(getattr(sam, field))
        if shape != expected:
            problems.add(f"{field} has shape {shape}; expected {expected} over ({', '.join(axes)})")


def _check_values(sam: GlobalSAM, problems: Problems) -> None:
    for field, (tables, column, axes, rule) in _FIELDS.items():
        values = np.asarray(getattr(sam, field), dtype=float)
        where = f"{_files(sam, tables)}, column '{column}'"
        bad = ~np.isfinite(values)
        if bad.any():
            cells = [
                f"{_cell(sam, field, k)} = {values[k]}" for k in zip(*np.nonzero(bad), strict=True)
            ]
            problems.add(f"{where}: values must be finite numbers; {examples(cells)}")
        broken = np.isfinite(values) & ~rule.holds(values)
        if broken.any():
            cells = [
                f"{_cell(sam, field, k)} = {values[k]:.10g}"
                for k in zip(*np.nonzero(broken), strict=True)
            ]
            problems.add(f"{where}: {rule.text}; {examples(cells)}")
        if axes[-2:] == ("exporter", "importer"):
            own = values * np.eye(len(sam.regions), dtype=bool)
            cells = [
                f"{_cell(sam, field, k)} = {own[k]:.10g}"
                for k in zip(*np.nonzero(own), strict=True)
            ]
            if cells:
                problems.add(
                    f"{where}: exporter = importer on {len(cells)} route(s), where only "
                    f"international trade belongs; {examples(cells)}"
                )
    for name in FINAL_ELASTICITIES:
        value = getattr(sam, name)
        if not (np.isfinite(value) and ELASTICITY.holds(value)):
            problems.add(f"{TOML}, [elasticities] {name} = {value!r}: {ELASTICITY.text} and finite")
    _check_factor_supply(sam, problems)
    vc = accounts.final_demand(sam)[0]
    for r in np.nonzero(~(vc > 0))[0]:
        problems.add(
            f"{_files(sam, ('final_demand',))}: region {sam.regions[r]} has no household demand; "
            "the welfare index C[r] needs vc[r] > 0"
        )


def _check_factor_supply(sam: GlobalSAM, problems: Problems) -> None:
    """eta[f, r] of dataset.toml's [factor_supply]: one per factor and region, each >= 0."""
    eta = np.asarray(sam.eta, dtype=float)
    shape = (len(sam.factors), len(sam.regions))
    if eta.shape != shape:
        problems.add(f"{TOML}, [{TABLE}]: eta has shape {eta.shape}, expected {shape}")
        return
    bad = [
        f"[{TABLE}.{sam.regions[r]}] {sam.factors[f]} = {eta[f, r]!r}"
        for f, r in zip(*np.nonzero(~(np.isfinite(eta) & (eta >= 0))), strict=True)
    ]
    if bad:
        problems.add(f"{TOML}: {SUPPLY_RULE}; {examples(bad)}")


def _check_identities(sam: GlobalSAM, problems: Problems) -> None:
    vom = accounts.vom(sam)
    vim = accounts.vim(sam)
    floor = FLOOR * max(vom.max(initial=0.0), vim.max(initial=0.0))

    def check(
        identity: str,
        tables: tuple[str, ...],
        lhs: tuple[str, np.ndarray],
        rhs: tuple[str, np.ndarray],
        where: Callable[[tuple[int, ...]], str],
    ) -> None:
        """Report each account where the two sides differ beyond the tolerance."""
        (left_name, left), (right_name, right) = lhs, rhs
        gap = left - right
        account = np.maximum(np.abs(left), np.abs(right))
        for k in zip(*np.nonzero(np.abs(gap) > RTOL * np.maximum(account, floor)), strict=True):
            problems.add(
                f"{identity}, {where(k)} ({_files(sam, tables)}): {left_name} = "
                f"{left[k]:.10g} but {right_name} = {right[k]:.10g}; gap {gap[k]:.6g}, "
                f"{abs(gap[k]) / account[k]:.2e} of the account (tolerance {RTOL:g} relative)"
            )

    def commodity_in_region(k: tuple[int, ...]) -> str:
        return f"commodity {sam.sectors[k[0]]}, region {sam.regions[k[1]]}"

    sales = vom - accounts.domestic_supply_gap(sam)
    no_inputs = (vom == 0) & (sales > 0)
    for k in zip(*np.nonzero(no_inputs), strict=True):
        problems.add(
            f"zero profit, sector {sam.sectors[k[0]]}, region {sam.regions[k[1]]} "
            f"({_files(sam, _OUTPUT_TABLES)}): the sector sells {sales[k]:.10g} (domestic use + "
            f"exports + vst) but has no inputs at all; gap {-sales[k]:.6g}, 1 of the account "
            f"(tolerance {RTOL:g} relative)"
        )
    check(
        "domestic market (vom = domestic use + exports + vst)",
        _OUTPUT_TABLES + _DOMESTIC_USE_TABLES,
        ("output vom", vom),
        # A sector without inputs is reported once, as a zero-profit failure.
        ("domestic use + exports + vst", np.where(no_inputs, vom, sales)),
        commodity_in_region,
    )
    check(
        "import market (vim = Σ_s vims = Σ_g vifm/(1+tif0))",
        _IMPORT_TABLES,
        ("imports vim", vim),
        ("imported use", vim - accounts.import_market_gap(sam)),
        commodity_in_region,
    )
    check(
        "margin supply = use",
        ("margin_supply", "margins"),
        ("supply Σ_r vst", accounts.vtw(sam)),
        ("use Σ vtwr", accounts.margin_use(sam)),
        lambda k: f"margin {sam.margins[k[0]]}, world",
    )
    vb = accounts.vb(sam)
    spending = accounts.expenditure(sam).sum()
    transfers = ", ".join(f"{r} {v:.6g}" for r, v in zip(sam.regions, vb, strict=True))
    check(
        f"transfers (Σ_r vb = 0; vb by region: {transfers})",
        ("factor_payments", "final_demand", "trade", "margins", "margin_supply"),
        ("world expenditure", np.array([spending])),
        ("world income", np.array([spending - vb.sum()])),
        lambda k: "world",
    )
