"""``fragcge data balance``: restore the identities of a dataset folder that fails them.

The dataset is read without its identities checked, written as a SAM (one account per
market: a failed identity is an account whose receipts and payments differ), balanced by
:func:`fragcge.calibration.balance.balance_square`, read back from the balanced SAM (tax
rates follow as payments over bases), validated, and written to a new folder with a
report of the changes.

A dataset does not store its regions' net transfers ``vb``: they are derived as
expenditure − income, so an edited flow shows up in them too. ``TRANSFERS`` are the rules
for which of them balancing treats as data (see :func:`kept_transfers`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fragcge.calibration import accounts
from fragcge.calibration.balance import METHODS, balance_square
from fragcge.calibration.dataset import load_dataset, read_dataset, write_dataset_files
from fragcge.calibration.elasticity_registry import SCALAR_ELASTICITIES, SECTOR_ELASTICITIES
from fragcge.calibration.sam import GlobalSAM
from fragcge.calibration.sam_cells import (
    FACTOR_ROLES,
    SocialAccounts,
    from_global_sam,
    imbalances,
    to_global_sam,
)
from fragcge.calibration.schema import REPORTS
from fragcge.calibration.validate import validate
from fragcge.errors import DatasetError
from fragcge.output_folder import check_target, replacing

TRANSFERS = ("auto", "adjust", "zero")
"""--transfers choices: which regions' net transfers are balanced as data (the others are
set to zero); :func:`kept_transfers`."""
_CHOICES = {
    "auto": "--transfers auto (only transfers above the discrepancy are data)",
    "adjust": "--transfers adjust (every non-zero transfer is data)",
    "zero": "--transfers zero (no region has a transfer)",
}
FIXABLE = {"output": ("activity",), "value-added": tuple(FACTOR_ROLES)}
"""--fix choices: gross output of each activity, or each factor's income in each region."""
REPORT = REPORTS[0]
FIELDS = {
    "vfm": "factor_payments",
    "vdfm": "intermediate + final_demand (domestic)",
    "vifm": "intermediate + final_demand (imported)",
    "vxmd": "trade",
    "vtwr": "margins",
    "vst": "margin_supply",
    "to0": "output_taxes",
    "tf0": "factor_taxes",
    "tdf0": "purchase_taxes (domestic)",
    "tif0": "purchase_taxes (imported)",
    "tx0": "trade_wedges (export_tax)",
    "tm0": "trade_wedges (tariff)",
}
"""Each array balancing may change, with the dataset table it is stored in."""


@dataclass(frozen=True)
class Balanced:
    """A balanced dataset and what balancing changed."""

    sam: GlobalSAM
    report: pd.DataFrame
    unbalanced: int  # accounts that did not balance before
    transfers: str  # what happened to the net transfers, for the printout and the README


def kept_transfers(vb: np.ndarray, rule: str) -> np.ndarray:
    """Per region, whether its net transfer ``vb`` is balanced as data (else set to zero).

    ``adjust``: every non-zero one. ``zero``: none. ``auto``: those larger than the world's
    transfer discrepancy ``|Σ_r vb_r|``, which is zero in a balanced dataset and so
    measures what edits did to the transfers: a region whose ``vb`` is no larger than that
    may owe its whole transfer to the edits, and gets none.
    """
    if rule not in TRANSFERS:
        raise DatasetError(f"--transfers {rule} unknown; choices: {', '.join(TRANSFERS)}")
    if rule == "zero":
        return np.zeros(len(vb), dtype=bool)
    if rule == "adjust":
        return vb != 0
    return np.abs(vb) > abs(vb.sum())


def _without_transfers(
    sam: GlobalSAM, cells: SocialAccounts, rule: str
) -> tuple[SocialAccounts, str]:
    """``cells`` without the transfer cells of the regions whose transfer is set to zero,
    and a sentence saying what happened to the transfers."""
    vb = accounts.vb(sam)
    kept = kept_transfers(vb, rule)
    regions = np.array(sam.regions)
    role = np.array([a.role for a in cells.accounts])
    region = np.array([a.region for a in cells.accounts])
    received = role[cells.cols] == "transfers"  # the world pays a region's final agent
    paid = role[cells.rows] == "transfers"
    of = np.where(paid, region[cells.cols], region[cells.rows])
    keep = ~(received | paid) | np.isin(of, regions[kept])
    said = f"--transfers {rule}, world discrepancy |Σ vb| = {abs(vb.sum()):.6g} before: "
    if kept.any():
        said += f"net transfers balanced as data in {_listed(regions[kept])}"
        if (~kept).any():
            said += f", set to zero in {_listed(regions[~kept])}"
    else:
        said += "every region's net transfer set to zero (income = expenditure in each)"
    if received[keep].any() != paid[keep].any():
        raise DatasetError(
            f"cannot balance the net transfers: {said}; the transfers kept are all of one "
            "sign, so they cannot sum to zero across regions; choose "
            + " or ".join(_CHOICES[other] for other in TRANSFERS if other != rule)
        )
    trimmed = SocialAccounts(
        cells.accounts, cells.rows[keep], cells.cols[keep], cells.values[keep], cells.source
    )
    return trimmed, said


def _listed(regions: np.ndarray, shown: int = 10) -> str:
    names = ", ".join(regions[:shown])
    rest = f" and {len(regions) - shown} more" if len(regions) > shown else ""
    return f"{len(regions)} region(s) ({names}{rest})"


def balance_dataset(
    sam: GlobalSAM, method: str, fix: tuple[str, ...] = (), transfers: str = "auto"
) -> Balanced:
    """``sam`` with its identities restored by ``method``, its elasticities (factor supply
    included) and names kept;
    ``transfers`` (:data:`TRANSFERS`) says which regions' net transfers are data."""
    unknown = [f for f in fix if f not in FIXABLE]
    if unknown:
        raise DatasetError(f"--fix {', '.join(unknown)} unknown; choices: {', '.join(FIXABLE)}")
    cells = from_global_sam(sam)
    prior, said = _without_transfers(sam, cells, transfers)
    names = [a.name for a in cells.accounts]
    fixed = np.array([any(a.role in FIXABLE[f] for f in fix) for a in cells.accounts])
    values = balance_square(len(names), prior.rows, prior.cols, prior.values, method, names, fixed)
    after = prior.with_values(values)
    esub = {e: getattr(sam, e) for e in SECTOR_ELASTICITIES}
    finals = {e: getattr(sam, e) for e in SCALAR_ELASTICITIES}
    balanced = to_global_sam(after, sam.name, esub, sam.meta, finals)
    balanced = dataclasses.replace(
        balanced,
        region_names=dict(sam.region_names),
        sector_names=dict(sam.sector_names),
        groups=dict(sam.groups),
        eta=np.array(sam.eta),
    )
    validate(balanced)
    report = _report(sam, balanced, cells, after)
    return Balanced(balanced, report, len(imbalances(cells)), said)


def _report(
    before: GlobalSAM, after: GlobalSAM, cells: SocialAccounts, balanced: SocialAccounts
) -> pd.DataFrame:
    """One row per array (sums, largest relative cell change) and per SAM account total."""
    rows = []
    for field, table in FIELDS.items():
        old, new = getattr(before, field), getattr(after, field)
        if not (old.any() or new.any()):
            continue
        relative = np.abs(new - old) / np.maximum(np.abs(old), 1e-300)
        relative[(old == 0) & (new == 0)] = 0.0
        rows.append(
            (
                table,
                field,
                "all",
                float(old.sum()),
                float(new.sum()),
                float(relative.max(initial=0)),
            )
        )
    # A net transfer may be zero: its change is measured against the region's spending.
    spending = accounts.expenditure(before)
    for r, (old, new) in enumerate(zip(accounts.vb(before), accounts.vb(after), strict=True)):
        change = abs(new - old) / max(abs(spending[r]), 1e-300)
        rows.append(("net_transfers", "vb", before.regions[r], float(old), float(new), change))
    receipts, payments = cells.receipts(), cells.payments()
    total = balanced.receipts()
    for k, account in enumerate(cells.accounts):
        for side, old in (("receipts", receipts[k]), ("payments", payments[k])):
            change = abs(total[k] - old) / max(abs(old), 1e-300) if old or total[k] else 0.0
            rows.append(("accounts", side, account.name, float(old), float(total[k]), change))
    return pd.DataFrame(
        rows, columns=["table", "field", "account", "before", "after", "largest_relative_change"]
    )


def balance_folder(
    source: str | Path,
    out: Path,
    method: str,
    fix: tuple[str, ...] = (),
    transfers: str = "auto",
) -> Balanced:
    """Read ``source``, balance it, write ``out`` atomically (only over a dataset folder
    fragcge wrote: :func:`fragcge.output_folder.replacing`)."""
    if method not in METHODS:
        raise DatasetError(f"unknown method {method!r}; methods: {', '.join(METHODS)}")
    if transfers not in TRANSFERS:
        raise DatasetError(f"--transfers {transfers} unknown; choices: {', '.join(TRANSFERS)}")
    out = Path(out)
    check_target(out, "dataset")
    sam = read_dataset(source)
    result = balance_dataset(sam, method, fix, transfers)
    with replacing(out, "dataset") as tmp:
        write_dataset_files(result.sam, tmp)
        result.report.to_csv(tmp / REPORT, index=False, float_format=_repr_float)
        (tmp / "README.md").write_text(_readme(sam, result, method, fix), encoding="utf-8")
        load_dataset(tmp)  # what is written is what a user will load
    return result


def _repr_float(value: float) -> str:
    return repr(float(value))


def summary(result: Balanced, top: int = 10) -> str:
    """The printed report: changes per table and the accounts that moved most."""
    fields = result.report[~result.report["table"].isin(("accounts", "net_transfers"))]
    lines = [f"{'table':<42}{'field':<6}{'before':>16}{'after':>16}{'largest cell change':>21}"]
    for row in fields.itertuples():
        lines.append(
            f"{row.table:<42}{row.field:<6}{row.before:>16.8g}{row.after:>16.8g}"
            f"{row.largest_relative_change:>20.3%}"
        )
    vb = result.report[result.report["table"] == "net_transfers"]
    vb = vb.sort_values("largest_relative_change", ascending=False, kind="stable").head(top)
    lines += ["", f"{'net transfers vb':<40}{'region':<10}{'before':>16}{'after':>16}"]
    for row in vb.itertuples():
        lines.append(f"{'':<40}{row.account:<10}{row.before:>16.8g}{row.after:>16.8g}")
    moved = result.report[result.report["table"] == "accounts"]
    moved = moved.sort_values("largest_relative_change", ascending=False, kind="stable").head(top)
    lines += ["", f"{'account':<40}{'side':<10}{'before':>16}{'after':>16}{'change':>10}"]
    for row in moved.itertuples():
        lines.append(
            f"{row.account:<40}{row.field:<10}{row.before:>16.8g}{row.after:>16.8g}"
            f"{row.largest_relative_change:>9.3%}"
        )
    return "\n".join(lines)


def _readme(source: GlobalSAM, result: Balanced, method: str, fix: tuple[str, ...]) -> str:
    held = f", holding {' and '.join(fix)} fixed" if fix else ""
    return (
        f"# {source.name}, balanced\n\n"
        f"Written by `fragcge data balance` from `{source.path}` with method `{method}`{held}.\n"
        f"{result.unbalanced} account(s) of its SAM did not balance before. Changes per table "
        f"and per account are in `{REPORT}` (largest_relative_change: of the largest cell for "
        "a table, of the total for an account, of the region's final expenditure for a net "
        "transfer vb).\n\n"
        f"Transfers: {result.transfers}.\n\n"
        "```\n" + summary(result) + "\n```\n"
    )
