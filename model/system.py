"""The square system: sparse variables, parameters, equation terms, numeraire and dropped market."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from fragcge.calibration.calibrate import Calibration
from fragcge.model import equations
from fragcge.model.closures import CLOSURES, Closure
from fragcge.model.nests import NESTS, Nests, calibrate_nests, elasticity_values, model_elasticities
from fragcge.model.route_wedges import WEDGES
from fragcge.model.shocks import ShockSet, parameter_names
from fragcge.model.structure import Block, Params, TermGroup, Terms, make_block

CORE_PAIRS = (
    ("Y", "prf_Y"),
    ("py", "mkt_py"),
    ("pa", "def_pa"),
    ("M", "prf_M"),
    ("pm", "mkt_pm"),
    ("pf", "mkt_pf"),
    ("ps", "mkt_ps"),
    ("C", "prf_C"),
    ("pc", "mkt_pc"),
    ("pg", "def_pg"),
    ("pinv", "def_pinv"),
    ("YT", "prf_YT"),
    ("pt", "mkt_pt"),
    ("RA", "inc_RA"),
    ("G", "shr_G"),
    ("I", "sav_I"),
    ("L", "rwg_L"),
    ("rho", "fb_rho"),
    ("B", "imb_B"),
    ("xi", "imb_xi"),
)
"""Each variable and the equation it is paired with, in global order, but the prices of the
agents' inner nests (:func:`pairs`)."""


def pairs(nests: Nests) -> tuple[tuple[str, str], ...]:
    """Each variable and the equation it is paired with, in global order: the prices of the
    firms' inner nests after py (``pva`` ↔ ``def_pva``, …), the final agents' after pinv."""
    after = {
        "py": [(n.price, f"def_{n.price}") for n in nests.firms.inner()],
        "pinv": [(n.price, f"def_{n.price}") for t in nests.final for n in t.inner()],
    }
    out: list[tuple[str, str]] = []
    for pair in CORE_PAIRS:
        out += [pair, *after.get(pair[0], [])]
    names = [name for name, _ in out]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ValueError(f"nest price(s) {', '.join(twice)} name another variable of the model")
    return tuple(out)


PAIRS = pairs(NESTS)
"""The pairs of the model's nests (``nests.NESTS``)."""

QUOTA_OFF = 1e3
"""Quota share on a quota route when no quota applies: a thousand times the baseline volume."""

QUOTA_MU = 1e-10
"""Smoothing of the quota's Fischer–Burmeister condition: ρ ≈ μ/(2b) off the cap, V ≈ cap on it."""

PRICES = ("py", "pa", "pm", "pf", "ps", "pc", "pg", "pinv", "pt")
"""Price variables, but those of the agents' inner nests (``System.prices``)."""
VALUES = ("RA", "B")


@dataclass(frozen=True)
class Numeraire:
    """The fixed price level: a mobile-factor price index, or one region's consumer price."""

    kind: str = "factor-index"
    region: str | None = None

    def describe(self, mobile: bool = True) -> str:
        """The numeraire in words, for reports and the manifest."""
        if self.kind == "factor-index" and mobile:
            return "Laspeyres index of mobile-factor prices, benchmark endowment weights = 1"
        if self.kind == "factor-index":
            return (
                "Laspeyres index of factor prices, benchmark endowment weights = 1 (no factor "
                "is mobile: the index runs over their sector-specific prices)"
            )
        return f"consumer price index pc[{self.region}] = 1"


class System:
    """Variables, parameters and equation terms of MODEL.md for one calibrated economy."""

    def __init__(
        self,
        cal: Calibration,
        numeraire: Numeraire | None = None,
        closure: Closure = CLOSURES["default"],
        quota: np.ndarray | None = None,
        nests: Nests = NESTS,
    ) -> None:
        self.cal = cal
        self.nests = nests
        """Every agent's nest tree (``model/nests.py``)."""
        self.elasticity_values = {
            e.name: elasticity_values(cal.sam, e) for e in model_elasticities(nests)
        }
        """The data's elasticities by name, which fix the equations' forms."""
        self.nest_shares = calibrate_nests(cal, nests)
        """Every tree's nests calibrated on the data, by agent."""
        self.pairs = pairs(nests)
        """Each variable and its equation, in global order."""
        self.prices = (*PRICES, *nests.prices())
        """Every price variable."""
        self.quota = np.zeros(cal.vxmd.shape, bool) if quota is None else quota & (cal.vxmd > 0)
        self.numeraire = numeraire or Numeraire()
        self.closure = closure
        sam = cal.sam
        self.margin_rows = [m for m in range(len(sam.margins)) if cal.vtw[m] > 0]
        self.routes = np.argwhere(cal.vxmd > 0)
        self.var = self._variables()
        self.n = sum(b.size for b in self.var.values())
        self.params = self._parameters()
        self.terms = Terms()
        for block in equations.BLOCKS:
            block(self)
        self.dropped = self._numeraire()
        self.groups: list[TermGroup] = self.terms.groups()
        self.route_groups = equations.route_groups(self)
        """Each trade route's variables and parameters, for reports (no equation's terms)."""
        self.purchases = equations.purchase_groups(self)
        """Every agent's purchases by price (py, pm): cells and demand terms, for reports."""
        self.factor_demands = equations.factor_demand_groups(self)
        """Firms' factor demands: cells and demand terms, for reports."""
        self.margin_supplies = equations.margin_supply_groups(self)
        """Supplies to the margin pools: cells and terms, for reports."""
        self.factor_supplies = equations.factor_supply_groups(self)
        """Factors supplied (endowment times the supply response): cells and terms, for
        reports."""
        self.benchmark_theta = self.params.vector()
        """θ at the benchmark, with the data's elasticities; read-only: every solve gets its
        own θ (:meth:`with_params`) and returns it with the solution."""
        self.benchmark_theta.flags.writeable = False

    def _variables(self) -> dict[str, Block]:
        """Variables over the non-zero benchmark flows, in the order of ``pairs``."""
        c, sam = self.cal, self.cal.sam
        n = c.n_sectors
        produced = c.vom > 0
        region = np.ones(len(sam.regions), dtype=bool)
        masks = {
            "Y": produced,
            "py": produced,
            "pa": (c.dd0 + c.di0) > 0,
            "M": c.vim > 0,
            "pm": c.vim > 0,
            "pf": c.evom > 0,
            "ps": c.evom_s > 0,
            "C": c.vfd[0] > 0,
            "pc": c.vfd[0] > 0,
            "pg": c.vfd[1] > 0,
            "pinv": c.vfd[2] > 0,
            "YT": np.isin(np.arange(len(sam.margins)), self.margin_rows),
            "pt": np.isin(np.arange(len(sam.margins)), self.margin_rows),
            "RA": region,
            "G": (c.vfd[1] > 0) & self.closure.government_share,
            "I": (c.vfd[2] > 0) & self.closure.savings_rate,
            "L": (c.evom > 0) & self.closure.real_wage,
            "rho": self.quota,
            "B": region & self.closure.income_share,
            "xi": np.full(1, self.closure.income_share),
        }
        masks["pa"][:, :n, :] &= produced[None, :, :]
        for tree in self.nests.trees():
            for node in tree.inner():
                masks[node.price] = self.nest_shares[tree.agent].exists[node.price]
        axes = {
            "Y": ("j", "r"),
            "py": ("i", "r"),
            "pa": ("i", "g", "r"),
            "M": ("i", "r"),
            "pm": ("i", "r"),
            "pf": ("f", "r"),
            "ps": ("f", "j", "r"),
            "C": ("r",),
            "pc": ("r",),
            "pg": ("r",),
            "pinv": ("r",),
            "YT": ("m",),
            "pt": ("m",),
            "RA": ("r",),
            "G": ("r",),
            "I": ("r",),
            "L": ("f", "r"),
            "rho": ("i", "r", "s"),
            "B": ("r",),
            "xi": ("w",),
        }
        for tree in self.nests.trees():
            for node in tree.inner():
                axes[node.price] = ("j", "r") if tree.agent == "firms" else ("r",)
        blocks, offset = {}, 0
        for name, _ in self.pairs:
            blocks[name] = make_block(name, axes[name], masks[name], offset)
            offset += blocks[name].size
        # Margin blocks are numbered over active margins only, so pos[k] is the k-th active one.
        for name in ("YT", "pt"):
            b = blocks[name]
            b.pos = b.pos[self.margin_rows]
        return blocks

    def _parameters(self) -> Params:
        """Mutable parameters: scenario instruments at their benchmark values, elasticities at
        the data's (constants come with terms)."""
        sam = self.cal.sam
        bench = ShockSet.benchmark(sam)
        P = Params()
        for name in WEDGES:
            P.add_mutable(name, ("i", "r", "s"), bench.level(name))
        P.add_mutable("vb", ("r",), bench.vb)
        P.add_mutable("A", ("j", "r"), bench.A)
        P.add_mutable("endow", ("f", "r"), bench.endow)
        P.add_mutable("endow_s", ("f", "j", "r"), bench.endow_s)
        P.add_mutable("trade_open", ("i", "r", "s"), bench.trade_open)
        P.add_mutable("qshare", ("i", "r", "s"), np.full_like(bench.tau, QUOTA_OFF))
        P.add_mutable("qscale", ("i", "r", "s"), np.ones_like(bench.tau))
        P.add_mutable("qmu", (), np.full(1, QUOTA_MU))
        P.add_mutable("Gbar", ("r",), np.ones(len(sam.regions)))
        P.add_mutable("Ibar", ("r",), np.ones(len(sam.regions)))
        P.add_mutable("pnum", (), np.ones(1))
        P.add_mutable("eta", ("f", "r"), np.asarray(sam.eta, dtype=float))
        for e in model_elasticities(self.nests):
            axes = ("i",) if e.per_sector else ()
            P.add_mutable(e.name, axes, self.elasticity_values[e.name])
        return P

    def _numeraire(self) -> tuple[str, tuple[int, ...], int]:
        """Fix the price level and drop one market equation (Walras' law makes it redundant).

        Returns the dropped equation's block, index and the row its residual is kept in
        (row n, outside the square system) for the Walras check.
        """
        c, sam, v = self.cal, self.cal.sam, self.var
        pnum = self.params.mutable["pnum"].pos[0]
        extra = self.n + 1
        if self.numeraire.kind == "factor-index":
            # Where no factor is mobile (the short-run closure), the same index runs over the
            # sector-specific prices, with the same benchmark endowment weights.
            name, eq, endow = (
                ("pf", "mkt_pf", c.evom) if v["pf"].size else ("ps", "mkt_ps", c.evom_s)
            )
            prices = v[name]
            if prices.size == 0:
                raise ValueError("the factor-index numeraire needs a factor")
            idx = tuple(prices.members.T)
            w = endow[idx] / endow[idx].sum()
            self.terms.add("lin", np.full(prices.size, extra), [prices.pos[idx]], [], w)
            k = int(np.argmax(endow[idx]))
            index = tuple(int(a[k]) for a in idx)
            block, row = eq, int(prices.pos[index])
        else:
            r = sam.regions.index(self.numeraire.region)
            pc = v["pc"]
            self.terms.add("lin", [extra], [[pc.pos[r]]], [], 1.0)
            block, index, row = "mkt_pc", (r,), int(pc.pos[r])
        self.terms.add("const", [extra], [], [], -1.0, [[pnum]])
        # The dropped market's terms go to row n, the numeraire's into the market's row.
        self.terms.move_rows({row: self.n, extra: row})
        return block, index, row

    def shock_params(self, shocks: ShockSet) -> dict[str, np.ndarray]:
        """The mutable parameters a ShockSet sets, by name, quota shares included."""
        values = {name: np.asarray(shocks.level(name), dtype=float) for name in parameter_names()}
        values["qshare"] = self.quota_share(shocks)
        return values

    def quota_share(self, shocks: ShockSet) -> np.ndarray:
        """The qshare parameter for a ShockSet's quotas; an error if a quota route is unknown."""
        capped = np.isfinite(shocks.quota) & (self.cal.vxmd > 0)
        if np.any(capped & ~self.quota):
            raise ValueError("the model was built without these quota routes; pass quota=")
        return np.where(capped, shocks.quota, QUOTA_OFF)

    def with_params(self, theta: np.ndarray, values: dict[str, np.ndarray | float]) -> np.ndarray:
        """A copy of θ with the named mutable parameters (dense over their index space) set."""
        out = np.array(theta, dtype=float)
        for name, value in values.items():
            block = self.params.mutable[name]
            out[block.offset : block.offset + block.size] = np.ravel(value)
        return out

    def param(self, name: str, theta: np.ndarray) -> np.ndarray:
        """Dense values of a mutable parameter in θ."""
        block = self.params.mutable[name]
        return theta[block.offset : block.offset + block.size].reshape(block.pos.shape)

    def esub(self, name: str, theta: np.ndarray) -> np.ndarray | float:
        """An elasticity in θ, shaped as in the data (a float for esubp, esubg and esubi)."""
        values = self.param(name, theta)
        return values if self.params.mutable[name].axes else float(values[0])

    def start(self) -> np.ndarray:
        """The benchmark point: prices and activities 1, income and transfers at their values,
        quota wedges 0 (Ξ, where it is a variable, 1)."""
        x = np.ones(self.n)
        ra, rho, b = self.var["RA"], self.var["rho"], self.var["B"]
        x[ra.offset : ra.offset + ra.size] = self.cal.ra0
        x[rho.offset : rho.offset + rho.size] = 0.0
        x[b.offset : b.offset + b.size] = self.cal.vb0[b.members[:, 0]]
        return x

    def lower_bounds(self) -> np.ndarray:
        """What a solution must exceed: 0 for prices, activities and incomes; a quota's wedge
        ρ may be 0 (slack), so it only has to stay above −1e-9 (the smoothing's noise); a
        transfer B has no bound."""
        floor = np.zeros(self.n)
        rho, b = self.var["rho"], self.var["B"]
        floor[rho.offset : rho.offset + rho.size] = -1e-9
        # A net foreign transfer has either sign.
        floor[b.offset : b.offset + b.size] = -np.inf
        return floor

    def labels(self) -> list[str]:
        """Equation names by row, e.g. mkt_py[ELE,CHN], with the numeraire in the dropped row."""
        return self._label_cache[0]

    @cached_property
    def _label_cache(self) -> tuple[list[str], list[str]]:
        # Built once: every Ipopt run names its worst equations and any non-positive variable.
        variables, equations = [], []
        for name, eq in self.pairs:
            for idx in self.var[name].members:
                codes = ",".join(self.var_codes(name, idx))
                variables.append(f"{name}[{codes}]")
                equations.append(f"{eq}[{codes}]")
        equations[self.dropped[2]] = "numeraire"
        return equations, variables

    def label(self, row: int) -> str:
        """The name of equation ``row`` (``labels()[row]``), without naming every row: a
        solve names only its worst few."""
        if row == self.dropped[2]:
            return "numeraire"
        name, eq, idx = self._member(row)
        return f"{eq}[{','.join(self.var_codes(name, idx))}]"

    def variable_label(self, column: int) -> str:
        """The name of variable ``column`` (``variable_labels()[column]``)."""
        name, _, idx = self._member(column)
        return f"{name}[{','.join(self.var_codes(name, idx))}]"

    def _member(self, position: int) -> tuple[str, str, np.ndarray]:
        """The variable block, its equation and the member at a position of x (or row)."""
        for name, eq in self.pairs:
            block = self.var[name]
            if block.offset <= position < block.offset + block.size:
                return name, eq, block.members[position - block.offset]
        raise IndexError(f"position {position} is outside the system's {self.n} unknowns")

    def dropped_label(self) -> str:
        """Name of the market equation left out of the square system, e.g. mkt_pf[va,USA]."""
        block, index, _ = self.dropped
        var = next(v for v, eq in self.pairs if eq == block)
        return f"{block}[{','.join(self.var_codes(var, np.asarray(index)))}]"

    def variable_labels(self) -> list[str]:
        """Variable names by column, e.g. py[ELE,CHN]."""
        return self._label_cache[1]

    def var_codes(self, name: str, idx: np.ndarray) -> list[str]:
        """Codes of a member of variable block name, e.g. ("pm", (6, 5)) → ["ELE", "CHN"]."""
        return self.codes(self.var[name].axes, idx)

    def codes(self, axes: tuple[str, ...], idx) -> list[str]:
        """Codes of a dense index along named axes, e.g. ("i", "r"), (6, 5) → ["ELE", "CHN"]."""
        sam = self.cal.sam
        sets = {
            "i": sam.sectors,
            "j": sam.sectors,
            "r": sam.regions,
            "s": sam.regions,
            "f": sam.factors,
            "g": sam.agents,
            "m": sam.margins,
            "w": ("WORLD",),
        }
        return [sets[a][int(k)] for a, k in zip(axes, idx, strict=True)]
