"""The SAM format as data: account roles, which cells exist, and the map to and from a GlobalSAM.

A cell is a payment from its column account to its row account (the standard SAM
convention), so each account's row total (receipts) equals its column total (payments)
when the SAM balances. Which cells may be non-zero, and what each means in the dataset
contract, is the table ``_CELLS`` here and ``docs/data.md`` (section ``sam``). Tax rates
are derived as each tax payment over its base cell; flows are never derived from rates.
Reading SAM files is :mod:`fragcge.calibration.sam_accounts`'s job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fragcge.calibration import accounts
from fragcge.calibration.balance import METHODS
from fragcge.calibration.elasticity_registry import SECTOR_ELASTICITIES
from fragcge.calibration.sam import AGENT_FILE_NAMES, FINAL_AGENTS, GlobalSAM
from fragcge.calibration.schema import FINAL_ELASTICITIES
from fragcge.calibration.validate import FLOOR, RTOL, Problems, examples
from fragcge.errors import DatasetError

FINAL_ROLES = tuple(AGENT_FILE_NAMES[a] for a in FINAL_AGENTS)
"""household, government, investment: the final agents, one account each per region."""
FACTOR_ROLES = {"factor-mobile": "mobile", "factor-specific": "specific"}
TAX_ROLES = (
    "tax-output",
    "tax-factor",
    "tax-purchase-domestic",
    "tax-purchase-imported",
    "tax-export",
    "tax-import",
)
WORLD_ROLES = ("margin", "transfers")
"""Accounts of the whole world: their region is left empty."""
ROLES = (
    "activity",
    "commodity",
    "imported",
    "trade",
    *FACTOR_ROLES,
    *FINAL_ROLES,
    *TAX_ROLES,
    *WORLD_ROLES,
)
BUYERS = ("activity", *FINAL_ROLES)
"""Accounts that buy commodities (the agents g of MODEL.md)."""
INCOME_SOURCES = (*FACTOR_ROLES, *TAX_ROLES, *FINAL_ROLES, "transfers")
"""What a final agent's row may receive from."""


@dataclass(frozen=True)
class Account:
    """One account of the map: its region ('' for world accounts), role, code and partner."""

    name: str
    region: str
    role: str
    code: str
    partner: str = ""


@dataclass(frozen=True)
class SocialAccounts:
    """A SAM as its non-zero cells: ``values[k]`` is paid by ``accounts[cols[k]]`` to
    ``accounts[rows[k]]``."""

    accounts: tuple[Account, ...]
    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    source: str

    def receipts(self) -> np.ndarray:
        """Row totals: what each account receives."""
        return np.bincount(self.rows, self.values, len(self.accounts))

    def payments(self) -> np.ndarray:
        """Column totals: what each account pays."""
        return np.bincount(self.cols, self.values, len(self.accounts))

    def with_values(self, values: np.ndarray) -> SocialAccounts:
        """The same cells holding ``values``."""
        return SocialAccounts(self.accounts, self.rows, self.cols, values, self.source)


# --- checks ----------------------------------------------------------------------------


def imbalances(sam: SocialAccounts) -> list[tuple[Account, float, float]]:
    """Accounts whose receipts and payments differ beyond validate's tolerance."""
    receipts, payments = sam.receipts(), sam.payments()
    size = np.maximum(np.abs(receipts), np.abs(payments))
    floor = FLOOR * size.max(initial=0.0)
    bad = np.abs(receipts - payments) > RTOL * np.maximum(size, floor)
    return [(sam.accounts[k], receipts[k], payments[k]) for k in np.nonzero(bad)[0]]


def check_balanced(sam: SocialAccounts) -> None:
    """Refuse a SAM whose row and column totals differ, naming each account and both totals."""
    found = imbalances(sam)
    if found:
        lines = [
            f"account {a.name}: row total (receipts) {r:.10g}, column total (payments) "
            f"{p:.10g}, gap {r - p:.6g}"
            for a, r, p in found
        ]
        raise DatasetError(
            f"{sam.source}: the SAM does not balance in {len(found)} account(s) (tolerance "
            f"{RTOL:g} relative): {examples(lines)}. Fix the cells, or balance it on import "
            f"with --balance {'|'.join(METHODS)} (the methods of `fragcge data balance`)"
        )


def check_cells(sam: SocialAccounts) -> None:
    """Refuse a cell the format has no place for, or a negative flow, naming it."""
    regions, sectors, factors, _, margins = sets_of(sam)
    _flows(sam, regions, sectors, factors, margins)


# --- SAM -> GlobalSAM ------------------------------------------------------------------


@dataclass
class _Flows:
    """What the cells say, gathered into GTAP-shaped arrays before rates are derived."""

    dom_net: np.ndarray  # [i, g, r]
    dom_tax: np.ndarray
    imp_net: np.ndarray
    imp_tax: np.ndarray
    fac_net: np.ndarray  # [f, j, r]
    fac_tax: np.ndarray
    out_tax: np.ndarray  # [j, r]
    sales: np.ndarray  # [j, r]: what the activity receives, vom
    vxmd: np.ndarray  # [i, s, r]
    exp_tax: np.ndarray
    imp_duty: np.ndarray
    vtwr: np.ndarray  # [m, i, s, r]
    vst: np.ndarray  # [m, r]


def to_global_sam(
    sam: SocialAccounts,
    name: str,
    elasticities: dict[str, np.ndarray],
    meta: dict[str, object],
    final_elasticities: dict[str, float] | None = None,
) -> GlobalSAM:
    """The dataset a balanced SAM stands for; every cell is placed or refused by name."""
    regions, sectors, factors, kinds, margins = sets_of(sam)
    f = _flows(sam, regions, sectors, factors, margins)
    problems = Problems(sam.source)
    tdf0 = _rate(f.dom_tax, f.dom_net, "tax-purchase-domestic", "commodity", problems)
    tif0 = _rate(f.imp_tax, f.imp_net, "tax-purchase-imported", "imported", problems)
    tf0 = _rate(f.fac_tax, f.fac_net, "tax-factor", "factor", problems)
    to0 = _rate(f.out_tax, f.sales, "tax-output", "activity (its sales)", problems)
    tx0 = _rate(f.exp_tax, f.vxmd, "tax-export", "commodity (exports)", problems)
    cif = f.vxmd + f.exp_tax + f.vtwr.sum(axis=0)
    tm0 = _rate(f.imp_duty, cif, "tax-import", "cif value of the trade account", problems)
    problems.raise_if_any()
    n = len(sectors)
    esub = {k: np.asarray(v, dtype=float) for k, v in elasticities.items()}
    return GlobalSAM(
        name=name,
        regions=regions,
        sectors=sectors,
        factors=factors,
        factor_kind=kinds,
        margins=margins,
        vfm=f.fac_net + f.fac_tax,
        vdfm=f.dom_net + f.dom_tax,
        vifm=f.imp_net + f.imp_tax,
        vxmd=f.vxmd,
        vtwr=f.vtwr,
        vst=f.vst,
        to0=to0,
        tf0=tf0,
        tdf0=tdf0,
        tif0=tif0,
        tx0=tx0,
        tm0=tm0,
        **{name: esub[name].reshape(n) for name in SECTOR_ELASTICITIES},
        **(final_elasticities or FINAL_ELASTICITIES),
        meta=dict(meta),
    )


def sets_of(
    sam: SocialAccounts,
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], dict[str, str], tuple[str, ...]]:
    """Regions, sectors, factors (with kinds) and margins, in order of the account map."""
    regions = tuple(dict.fromkeys(a.region for a in sam.accounts if a.region))
    sectors = tuple(
        dict.fromkeys(a.code for a in sam.accounts if a.role in ("activity", "commodity"))
    )
    kinds: dict[str, str] = {}
    problems = Problems(sam.source)
    for a in sam.accounts:
        if a.role in FACTOR_ROLES:
            kind = FACTOR_ROLES[a.role]
            if kinds.setdefault(a.code, kind) != kind:
                problems.add(
                    f"factor {a.code} is mobile in one region and specific in another "
                    f"(account {a.name}); a factor has one kind everywhere"
                )
    for a in sam.accounts:
        partner_ok = a.role != "trade" or a.partner in regions
        if not partner_ok:
            problems.add(f"account {a.name}: partner {a.partner!r} is not a region of the map")
        sector_coded = ("imported", "trade", "margin", "tax-purchase-domestic")
        sector_coded += ("tax-purchase-imported",)
        if a.role in sector_coded and a.code not in sectors:
            problems.add(
                f"account {a.name}: code {a.code!r} is not a sector (the codes of activity and "
                f"commodity accounts: {', '.join(sectors)})"
            )
        if a.role == "tax-factor" and a.code not in kinds:
            problems.add(f"account {a.name}: code {a.code!r} is not a factor of the map")
    if len(regions) < 2:
        problems.add(f"the account map names {len(regions)} region(s); the model needs 2 or more")
    problems.raise_if_any()
    margin_codes = {a.code for a in sam.accounts if a.role == "margin"}
    margins = tuple(j for j in sectors if j in margin_codes)
    return regions, sectors, tuple(kinds), kinds, margins


def _flows(
    sam: SocialAccounts,
    regions: tuple[str, ...],
    sectors: tuple[str, ...],
    factors: tuple[str, ...],
    margins: tuple[str, ...],
) -> _Flows:
    n_r, n, n_f, n_m = len(regions), len(sectors), len(factors), len(margins)
    n_g = n + len(FINAL_ROLES)
    f = _Flows(
        dom_net=np.zeros((n, n_g, n_r)),
        dom_tax=np.zeros((n, n_g, n_r)),
        imp_net=np.zeros((n, n_g, n_r)),
        imp_tax=np.zeros((n, n_g, n_r)),
        fac_net=np.zeros((n_f, n, n_r)),
        fac_tax=np.zeros((n_f, n, n_r)),
        out_tax=np.zeros((n, n_r)),
        sales=np.zeros((n, n_r)),
        vxmd=np.zeros((n, n_r, n_r)),
        exp_tax=np.zeros((n, n_r, n_r)),
        imp_duty=np.zeros((n, n_r, n_r)),
        vtwr=np.zeros((n_m, n, n_r, n_r)),
        vst=np.zeros((n_m, n_r)),
    )
    at = _Positions(
        region={c: k for k, c in enumerate(regions)},
        sector={c: k for k, c in enumerate(sectors)},
        factor={c: k for k, c in enumerate(factors)},
        margin={c: k for k, c in enumerate(margins)},
    )
    problems = Problems(sam.source)
    for k in range(len(sam.values)):
        row, col, v = sam.accounts[sam.rows[k]], sam.accounts[sam.cols[k]], sam.values[k]
        cell = f"cell (row {row.name}, column {col.name}) = {v:.10g}"
        place = _CELLS.get((row.role, col.role))
        if place is None:
            problems.add(
                f"{cell}: a payment from a {col.role} account to a {row.role} account is not "
                "part of the SAM format (docs/data.md, section sam)"
            )
            continue
        reason = place.region_problem(row, col)
        if reason:
            problems.add(f"{cell}: {reason}")
            continue
        if v < 0 and not place.signed:
            problems.add(
                f"{cell}: negative, but only tax payments (and the income from them) may be "
                "negative (a subsidy); a flow must be >= 0"
            )
            continue
        # Income and import cells (target None) carry nothing the dataset stores: the
        # account balances, checked apart, make them consistent with the flows.
        if place.target is not None:
            getattr(f, place.target)[_INDEX[place.target](at, row, col)] += v
    problems.raise_if_any()
    return f


@dataclass(frozen=True)
class _Positions:
    """Where each code sits along the arrays' axes."""

    region: dict[str, int]
    sector: dict[str, int]
    factor: dict[str, int]
    margin: dict[str, int]

    def agent(self, a: Account) -> int:
        """Position on the agent axis g: the sectors, then hh, gov, inv."""
        if a.role == "activity":
            return self.sector[a.code]
        return len(self.sector) + FINAL_ROLES.index(a.role)

    def route(self, trade: Account) -> tuple[int, int, int]:
        """[i, s, r] of a trade account: its commodity, exporter and importer."""
        return self.sector[trade.code], self.region[trade.partner], self.region[trade.region]


def _purchase(at: _Positions, row: Account, col: Account) -> tuple[int, ...]:
    return at.sector[row.code], at.agent(col), at.region[col.region]


def _factor_use(at: _Positions, row: Account, col: Account) -> tuple[int, ...]:
    return at.factor[row.code], at.sector[col.code], at.region[col.region]


def _on_route(at: _Positions, row: Account, col: Account) -> tuple[int, ...]:
    return at.route(col)


_INDEX: dict[str, Callable[[_Positions, Account, Account], tuple[int, ...]]] = {
    "dom_net": _purchase,
    "dom_tax": _purchase,
    "imp_net": _purchase,
    "imp_tax": _purchase,
    "fac_net": _factor_use,
    "fac_tax": _factor_use,
    "out_tax": lambda at, row, col: (at.sector[col.code], at.region[col.region]),
    "sales": lambda at, row, col: (at.sector[row.code], at.region[row.region]),
    "vxmd": _on_route,
    "exp_tax": _on_route,
    "imp_duty": _on_route,
    "vtwr": lambda at, row, col: (at.margin[row.code], *at.route(col)),
    "vst": lambda at, row, col: (at.margin[col.code], at.region[row.region]),
}
"""Each _Flows array: the cell's index in it, from the cell's row and column accounts."""


@dataclass(frozen=True)
class _Cell:
    """Where one kind of cell goes, and how its two accounts' regions must relate."""

    target: str | None  # the _Flows array it adds to
    regions: str  # "same": row and column in one region; "exporter": row region = partner
    signed: bool = False
    codes: str = ""  # "same": row and column codes must be equal

    def region_problem(self, row: Account, col: Account) -> str:
        if self.regions == "same" and row.region != col.region:
            return f"the {row.role} and {col.role} accounts must be of the same region"
        if self.regions == "exporter" and row.region != col.partner:
            return (
                f"the {row.role} account must be of the exporting region {col.partner} "
                "(the trade account's partner)"
            )
        if self.codes == "same" and row.code != col.code:
            return f"the {row.role} and {col.role} accounts must have the same code"
        return ""


def _cells() -> dict[tuple[str, str], _Cell]:
    cells = {}
    for buyer in BUYERS:
        cells[("commodity", buyer)] = _Cell("dom_net", "same")
        cells[("imported", buyer)] = _Cell("imp_net", "same")
        cells[("tax-purchase-domestic", buyer)] = _Cell("dom_tax", "same", signed=True)
        cells[("tax-purchase-imported", buyer)] = _Cell("imp_tax", "same", signed=True)
    for factor in FACTOR_ROLES:
        cells[(factor, "activity")] = _Cell("fac_net", "same")
    cells[("tax-factor", "activity")] = _Cell("fac_tax", "same", signed=True)
    cells[("tax-output", "activity")] = _Cell("out_tax", "same", signed=True)
    cells[("activity", "commodity")] = _Cell("sales", "same", codes="same")
    cells[("trade", "imported")] = _Cell(None, "same", codes="same")
    cells[("commodity", "trade")] = _Cell("vxmd", "exporter", codes="same")
    cells[("tax-export", "trade")] = _Cell("exp_tax", "exporter", signed=True)
    cells[("margin", "trade")] = _Cell("vtwr", "")
    cells[("tax-import", "trade")] = _Cell("imp_duty", "same", signed=True)
    cells[("commodity", "margin")] = _Cell("vst", "", codes="same")
    for agent in FINAL_ROLES:
        for source in INCOME_SOURCES:
            signed = source in TAX_ROLES
            cells[(agent, source)] = _Cell(None, "" if source == "transfers" else "same", signed)
        cells[("transfers", agent)] = _Cell(None, "")
    return cells


_CELLS = _cells()
"""(row role, column role) → what such a cell is; any other pair is refused."""


def _rate(
    tax: np.ndarray, base: np.ndarray, tax_role: str, base_role: str, problems: Problems
) -> np.ndarray:
    """tax / base where the base is non-zero; a tax on no base is refused."""
    orphan = (tax != 0) & (base == 0)
    if orphan.any():
        problems.add(
            f"{int(orphan.sum())} {tax_role} payment(s) have no base (no {base_role} cell for "
            "the same payer); a tax rate is the payment over its base"
        )
    return np.divide(tax, base, out=np.zeros_like(tax), where=base != 0)


# --- GlobalSAM -> SAM ------------------------------------------------------------------


def from_global_sam(sam: GlobalSAM) -> SocialAccounts:
    """The dataset as a SAM of the format above: balanced exactly when the dataset is.

    Income goes to the household account, which passes the government's and investment's
    spending on to them; the transfer vb of each region comes from (or goes to) the world
    ``transfers`` account, so that ``Σ_r vb = 0`` is that account's balance.
    """
    names: dict[tuple[str, ...], int] = {}
    accounts_: list[Account] = []
    rows: list[int] = []
    cols: list[int] = []
    values: list[float] = []

    def account(region: str, role: str, code: str = "", partner: str = "") -> int:
        key = (region, role, code, partner)
        if key not in names:
            name = ".".join(p for p in (region or "world", role, code, partner) if p)
            names[key] = len(accounts_)
            accounts_.append(Account(name, region, role, code, partner))
        return names[key]

    def pay(row: int, col: int, value: float) -> None:
        if value != 0:
            rows.append(row)
            cols.append(col)
            values.append(float(value))

    n = len(sam.sectors)
    vom, cif = accounts.vom(sam), accounts.cif(sam)
    net_dom, net_imp = accounts.net_domestic(sam), accounts.net_imported(sam)
    net_fac = accounts.net_factor(sam)
    vb = accounts.vb(sam)
    buyers = [("activity", j) for j in sam.sectors] + [(role, "") for role in FINAL_ROLES]
    for region in sam.regions:  # first, so that the map lists regions and sectors in order
        for sector in sam.sectors:
            account(region, "activity", sector)
            account(region, "commodity", sector)
    transfers = account("", "transfers")
    for r, region in enumerate(sam.regions):
        household = account(region, "household")
        for g, (role, code) in enumerate(buyers):
            buyer = account(region, role, code)
            for i, commodity in enumerate(sam.sectors):
                pay(account(region, "commodity", commodity), buyer, net_dom[i, g, r])
                tax = sam.vdfm[i, g, r] - net_dom[i, g, r]
                pay(account(region, "tax-purchase-domestic", commodity), buyer, tax)
                pay(account(region, "imported", commodity), buyer, net_imp[i, g, r])
                tax = sam.vifm[i, g, r] - net_imp[i, g, r]
                pay(account(region, "tax-purchase-imported", commodity), buyer, tax)
        for j, sector in enumerate(sam.sectors):
            activity = account(region, "activity", sector)
            for f, factor in enumerate(sam.factors):
                role = "factor-" + sam.factor_kind[factor]
                pay(account(region, role, factor), activity, net_fac[f, j, r])
                tax = sam.vfm[f, j, r] - net_fac[f, j, r]
                pay(account(region, "tax-factor", factor), activity, tax)
            pay(account(region, "tax-output"), activity, sam.to0[j, r] * vom[j, r])
            pay(activity, account(region, "commodity", sector), vom[j, r])
        for i, commodity in enumerate(sam.sectors):
            for s, exporter in enumerate(sam.regions):
                if s == r or cif[i, s, r] == 0:
                    continue
                trade = account(region, "trade", commodity, exporter)
                pay(
                    trade,
                    account(region, "imported", commodity),
                    cif[i, s, r] * (1 + sam.tm0[i, s, r]),
                )
                pay(account(exporter, "commodity", commodity), trade, sam.vxmd[i, s, r])
                tax = sam.tx0[i, s, r] * sam.vxmd[i, s, r]
                pay(account(exporter, "tax-export"), trade, tax)
                for m, margin in enumerate(sam.margins):
                    pay(account("", "margin", margin), trade, sam.vtwr[m, i, s, r])
                pay(account(region, "tax-import"), trade, sam.tm0[i, s, r] * cif[i, s, r])
        for m, margin in enumerate(sam.margins):
            pay(account(region, "commodity", margin), account("", "margin", margin), sam.vst[m, r])
        if vb[r] > 0:
            pay(household, transfers, vb[r])
        else:
            pay(transfers, household, -vb[r])
        for role in FINAL_ROLES[1:]:
            spent = sam.vdfm[:, n + FINAL_ROLES.index(role), r].sum()
            spent += sam.vifm[:, n + FINAL_ROLES.index(role), r].sum()
            pay(account(region, role), household, spent)
    # Income: each region's factor and tax accounts pay out what they received.
    partial = SocialAccounts(
        tuple(accounts_), np.array(rows, int), np.array(cols, int), np.array(values), ""
    )
    received = partial.receipts()
    for k, a in enumerate(accounts_):
        if a.role in FACTOR_ROLES or a.role in TAX_ROLES:
            pay(account(a.region, "household"), k, received[k])
    return SocialAccounts(
        accounts=tuple(accounts_),
        rows=np.array(rows, dtype=int),
        cols=np.array(cols, dtype=int),
        values=np.array(values, dtype=float),
        source=f"dataset {sam.path or sam.name} as a SAM",
    )
