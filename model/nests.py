"""Each agent's nest tree, declared once, and its shares calibrated on a dataset.

A tree says which prices nest under which, with which elasticity (a name of the elasticity
registry), down to its leaves: primary factors and the agent's Armington composites of goods.
The price-index equations, the demand templates' paths and the shares all follow it
(``model/nest_terms.py`` writes the terms); nothing else in the model names a nest.

    firms  py·A ─ esubt ─┬─ pva ─ esubva ─ factors (pf, or ps if specific)
                         └─ pint ─ esubc ─ goods (pa)           [merged where esubc = esubt]
    hh     pc ─ esubp ─ goods;   gov  pg ─ esubg ─ goods;   inv  pinv ─ esubi ─ goods
    every agent's pa[i,g,r] ─ esubd ─ domestic py, imported pm (``Nests.armington``)

A nest's benchmark value is the sum of its leaves' (factor payments ``vfm``, purchases
``vdfm + vifm``, gross of tax); a child's share is its value over its parent's, so a new nest
needs no calibration code of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from fragcge.calibration.calibrate import Calibration, share
from fragcge.calibration.elasticity_registry import REGISTRY, Elasticity
from fragcge.calibration.sam import FINAL_AGENTS, GlobalSAM


@dataclass(frozen=True)
class Factors:
    """Leaves: primary factors at their price, ``pf`` if mobile and ``ps`` if specific.
    ``names`` None: every factor that no other leaf of the tree names."""

    names: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Goods:
    """Leaves: the agent's Armington composites ``pa[i, g, r]`` of goods. ``names`` None:
    every good that no other leaf of the tree names."""

    names: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Nest:
    """A CES price index over its children: its price variable (its equation is ``def_`` and
    the price, e.g. ``def_pva``), the elasticity among the children, and the children."""

    price: str
    sigma: str
    children: tuple[Nest | Factors | Goods, ...]
    merges: bool = False
    """Where its elasticity equals its parent's, the nest is merged into the parent (one CES
    level: its children join the parent with their shares times the nest's) and has no price."""
    meaning: str = ""

    def nests(self) -> Iterator[Nest]:
        """This nest and every nest below it, parents first."""
        yield self
        for child in self.children:
            if isinstance(child, Nest):
                yield from child.nests()


@dataclass(frozen=True)
class Tree:
    """One agent's nests: ``root`` is its unit cost, whose price is the agent's price."""

    agent: str
    """``firms`` (one tree per sector j and region r) or a final agent (hh, gov, inv; per r)."""
    root: Nest
    activity: str
    """The variable whose level scales the agent's demands (Y, C, G, I)."""
    equation: str
    """The variable whose row holds the root's price index (zero profit of Y or C; pg; pinv)."""
    fixed_level: str | None = None
    """Where the closure leaves ``activity`` out, the parameter that sets it (Gbar, Ibar)."""
    scale: str | None = None
    """A parameter multiplying the root's price in its index and demands (A: py·A)."""
    drops_leontief: bool = False
    """Levels at the top of a demand path whose elasticity is 0 in the data are left out of
    the demand (their factor is 1), so that the Jacobian does not couple every input of a
    firm through its upper prices."""

    def inner(self) -> list[Nest]:
        """The nests below the root, parents first: each has a price variable of its own."""
        return list(self.root.nests())[1:]


@dataclass(frozen=True)
class Nests:
    """Every agent's tree, the Armington nest every agent's goods have, and the elasticities
    that nests use beyond the registry's."""

    firms: Tree
    final: tuple[Tree, ...]
    armington: str = "esubd"
    """The elasticity of pa[i,g,r] between the domestic good py and the import composite pm."""
    elasticities: tuple[Elasticity, ...] = ()
    """Elasticities no dataset carries yet: the model takes their registry-style default, and
    a solve may set them (``CGEModel.solve(elasticities=…)``) like any other."""

    def trees(self) -> tuple[Tree, ...]:
        """Firms' tree, then the final agents'."""
        return (self.firms, *self.final)

    def prices(self) -> list[str]:
        """The price variables of every tree's inner nests."""
        return [n.price for t in self.trees() for n in t.inner()]


FIRMS = Tree(
    "firms",
    Nest(
        "py",
        "esubt",
        (
            Nest("pva", "esubva", (Factors(),), meaning="value added"),
            Nest("pint", "esubc", (Goods(),), merges=True, meaning="intermediate bundle"),
        ),
        meaning="production",
    ),
    activity="Y",
    equation="Y",
    scale="A",
    drops_leontief=True,
)
HOUSEHOLD = Tree("hh", Nest("pc", "esubp", (Goods(),)), activity="C", equation="C")
GOVERNMENT = Tree(
    "gov", Nest("pg", "esubg", (Goods(),)), activity="G", equation="pg", fixed_level="Gbar"
)
INVESTMENT = Tree(
    "inv", Nest("pinv", "esubi", (Goods(),)), activity="I", equation="pinv", fixed_level="Ibar"
)
NESTS = Nests(FIRMS, (HOUSEHOLD, GOVERNMENT, INVESTMENT))
"""The model's nests (MODEL.md)."""


def model_elasticities(nests: Nests) -> tuple[Elasticity, ...]:
    """Every elasticity of the model: the registry's, then those the nests add."""
    return (*REGISTRY, *nests.elasticities)


def elasticity_values(sam: GlobalSAM, e: Elasticity) -> np.ndarray:
    """An elasticity's values in the data (at least 1-d): the dataset's, or, for one no
    dataset carries yet (a nest's), the scenario's (``sam.nest_elasticities``) or its
    default (per sector if it is per sector)."""
    if e.name in sam.nest_elasticities:
        return np.atleast_1d(np.asarray(sam.nest_elasticities[e.name], dtype=float))
    if hasattr(sam, e.name):
        return np.atleast_1d(np.asarray(getattr(sam, e.name), dtype=float))
    if not isinstance(e.default, int | float):
        raise ValueError(f"elasticity {e.name} is in no dataset and has no numeric default")
    return np.full(len(sam.sectors) if e.per_sector else 1, float(e.default))


def elasticity_pattern(sam: GlobalSAM, nests: Nests = NESTS) -> bytes:
    """What of the elasticities fixes the equations: where σ = 1 (Cobb-Douglas price index),
    where a level a demand may leave out is Leontief (0), and where a merging nest's
    elasticity equals its parent's, and where a factor's supply elasticity eta is 0. Two sets
    of elasticities with the same pattern share one model; only θ differs."""
    values = {e.name: elasticity_values(sam, e) for e in model_elasticities(nests)}
    masks = [np.isclose(v, 1.0) for v in values.values()]
    for tree in nests.trees():
        for node in tree.root.nests():
            if tree.drops_leontief:
                masks.append(values[node.sigma] == 0)
            for child in node.children:
                if isinstance(child, Nest) and child.merges:
                    masks.append(values[child.sigma] == values[node.sigma])
    # A factor supply elasticity of 0 is a fixed supply, written without eta (mkt_pf, inc_RA).
    masks.append(np.asarray(sam.eta) == 0)
    return b"".join(np.ascontiguousarray(m, dtype=np.uint8).tobytes() + b"|" for m in masks)


@dataclass
class TreeShares:
    """A tree calibrated on a dataset, over its owners (``[j, r]`` for firms, ``[r]`` for a
    final agent): each nest's value, share in its parent, where it has a price and where it
    is merged; each factor's and good's share in the nest that holds it."""

    tree: Tree
    agent: slice | int
    """The agent axis g of pa[i, g, r] (and of vdfm, vifm) the owners are."""
    value: dict[str, np.ndarray] = field(default_factory=dict)
    share: dict[str, np.ndarray] = field(default_factory=dict)
    exists: dict[str, np.ndarray] = field(default_factory=dict)
    merged: dict[str, np.ndarray] = field(default_factory=dict)
    parent: dict[str, Nest] = field(default_factory=dict)
    nest: dict[str, Nest] = field(default_factory=dict)
    holder: dict[str, np.ndarray] = field(default_factory=dict)
    """Per leaf kind (``factor``, ``good``): the price of the nest holding each factor/good."""
    members: dict[tuple[str, int], np.ndarray] = field(default_factory=dict)
    """The factors or goods of a nest's k-th child (a leaf), by (nest price, k)."""
    leaf_share: dict[str, np.ndarray] = field(default_factory=dict)
    """Per leaf kind: [f or i, *owner] the share of the factor or good in its nest."""

    def path(self, price: str) -> list[Nest]:
        """The nests from the root down to the one whose price is ``price``."""
        out = [self.nest[price]]
        while out[0].price in self.parent:
            out.insert(0, self.parent[out[0].price])
        return out


def calibrate_nests(cal: Calibration, nests: Nests = NESTS) -> dict[str, TreeShares]:
    """Every tree's shares on the calibrated dataset, by agent (``firms``, ``hh``, …)."""
    sam = cal.sam
    n = len(sam.sectors)
    purchases = sam.vdfm + sam.vifm
    values = {e.name: elasticity_values(sam, e) for e in model_elasticities(nests)}
    out = {}
    for tree in nests.trees():
        if tree.agent == "firms":
            agent: slice | int = slice(0, n)
            active = cal.vom > 0
            leaves = {"factor": sam.vfm, "good": purchases[:, :n, :]}
        elif tree.agent in FINAL_AGENTS:
            k = FINAL_AGENTS.index(tree.agent)
            agent = n + k
            active = cal.vfd[k] > 0
            no_factors = np.zeros((len(sam.factors), len(sam.regions)))
            leaves = {"factor": no_factors, "good": purchases[:, agent, :]}
        else:
            raise ValueError(f"nest tree of unknown agent {tree.agent!r}")
        out[tree.agent] = _calibrate_tree(tree, agent, active, leaves, sam, values)
    return out


def _calibrate_tree(tree, agent, active, leaves, sam, values) -> TreeShares:
    """Values bottom-up (a nest is the sum of its children), then shares and merging."""
    shares = TreeShares(tree, agent)
    names = {"factor": sam.factors, "good": sam.sectors}
    shares.members = members = _members(tree, names)
    shares.holder = {kind: np.full(len(names[kind]), "", dtype=object) for kind in names}
    shares.leaf_share = {kind: np.zeros(leaves[kind].shape) for kind in names}

    def value(node: Nest) -> np.ndarray:
        parts = []
        for k, child in enumerate(node.children):
            if isinstance(child, Nest):
                shares.parent[child.price] = node
                parts.append(value(child))
                continue
            idx = members[node.price, k]
            parts.append(leaves[leaf_kind(child)][idx].sum(axis=0))
        total = sum(parts)
        for k, child in enumerate(node.children):
            if not isinstance(child, Nest):
                kind, idx = leaf_kind(child), members[node.price, k]
                shares.holder[kind][idx] = node.price
                shares.leaf_share[kind][idx] = share(leaves[kind][idx], total[None])
        shares.value[node.price] = total
        shares.nest[node.price] = node
        return total

    value(tree.root)
    for kind, flows in leaves.items():
        held = shares.holder[kind] != ""
        bought = flows.reshape(len(flows), -1).any(axis=1)
        if np.any(bought & ~held):
            missing = [names[kind][k] for k in np.flatnonzero(bought & ~held)]
            raise ValueError(
                f"nest tree of {tree.agent}: {kind}(s) {', '.join(missing)} are bought in the "
                "data but in no nest"
            )
    owner_sigma = _owner_sigma(tree, values, active.shape)
    for node in tree.root.nests():
        owner_sigma(node.sigma)  # known, and shaped for the tree's owners
    shares.exists[tree.root.price] = active
    shares.merged[tree.root.price] = np.zeros(active.shape, dtype=bool)
    shares.share[tree.root.price] = np.ones(active.shape)
    for node in tree.inner():
        up = shares.parent[node.price]
        shares.share[node.price] = share(shares.value[node.price], shares.value[up.price])
        merged = np.zeros(active.shape, dtype=bool)
        if node.merges:
            merged = owner_sigma(node.sigma) == owner_sigma(up.sigma)
        has = active & (shares.value[node.price] > 0)
        shares.exists[node.price] = has & ~merged
        shares.merged[node.price] = has & merged
    return shares


def leaf_kind(leaf: Factors | Goods) -> str:
    """``factor`` or ``good``."""
    return "factor" if isinstance(leaf, Factors) else "good"


def _members(tree: Tree, names: dict[str, tuple[str, ...]]) -> dict[tuple[str, int], np.ndarray]:
    """The indices each leaf holds, by (its nest's price, its position): those it names, or
    the rest (one leaf of each kind at most may take the rest)."""
    named: dict[str, set[str]] = {"factor": set(), "good": set()}
    leaves = {
        (n.price, k): c
        for n in tree.root.nests()
        for k, c in enumerate(n.children)
        if not isinstance(c, Nest)
    }
    for kind in named:
        rest = [
            key for key, leaf in leaves.items() if leaf_kind(leaf) == kind and leaf.names is None
        ]
        if len(rest) > 1:
            where = ", ".join(price for price, _ in rest)
            raise ValueError(
                f"nest tree of {tree.agent}: the {kind}s left over go to one nest, not {where}"
            )
    for leaf in leaves.values():
        kind = leaf_kind(leaf)
        for name in leaf.names or ():
            if name not in names[kind]:
                raise ValueError(
                    f"nest tree of {tree.agent}: {name!r} is not a {kind} of the data "
                    f"(known: {', '.join(names[kind])})"
                )
            if name in named[kind]:
                raise ValueError(f"nest tree of {tree.agent}: {name!r} is in two nests")
            named[kind].add(name)
    out = {}
    for key, leaf in leaves.items():
        kind = leaf_kind(leaf)
        keep = [
            k
            for k, name in enumerate(names[kind])
            if (name in leaf.names if leaf.names is not None else name not in named[kind])
        ]
        out[key] = np.array(keep, dtype=np.int64)
    return out


def _owner_sigma(tree: Tree, values: dict[str, np.ndarray], shape: tuple[int, ...]):
    """An elasticity's data values over the tree's owners: by sector j for firms."""

    def sigma(name: str) -> np.ndarray:
        if name not in values:
            raise ValueError(
                f"nest tree of {tree.agent}: elasticity {name!r} is neither in the registry "
                "nor in Nests.elasticities"
            )
        v = values[name]
        if tree.agent == "firms":
            return np.broadcast_to(v[:, None] if v.size > 1 else v, shape)
        if v.size > 1:
            raise ValueError(
                f"nest tree of {tree.agent}: {name} must be one number, not per sector"
            )
        return np.broadcast_to(v, shape)

    return sigma
