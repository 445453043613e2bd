"""The terms of the agents' nests (``model/nests.py``): price indices and demands.

A nest's price index is a sum of CES terms, one per child (``ces``, or ``cd`` where σ = 1).
An agent's demand for a factor or a good follows the path of nests from its top price to the
leaf: ``c·X·Π (P_parent/P_child)^σ_parent``, one level per nest that has a price (a merged
nest adds none), the Armington level ``(pa/p_i)^esubd`` last for goods, and, in a tree that
``drops_leontief``, the top levels whose σ is 0 left out. Each shape of path is one demand
template (``terms.DEMAND_KINDS``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fragcge.model.nests import Nest, Tree, TreeShares, leaf_kind
from fragcge.model.structure import EquationSpace, Terms
from fragcge.model.terms import BASIC_KINDS, DEMAND_KINDS, demand_name, sigma_names

Owner = tuple[np.ndarray, ...]
"""A tree's owners as index arrays: (j, r) for firms, (r,) for a final agent."""


def sigma_columns(sys: EquationSpace, name: str, idx=None) -> tuple[np.ndarray, np.ndarray]:
    """An elasticity's data values and θ positions for terms in sectors idx (None: a scalar).

    Elasticities are mutable parameters: the values only choose each term's functional form
    (Cobb-Douglas at σ = 1, Leontief levels at 0, merged nests), which
    :func:`fragcge.model.nests.elasticity_pattern` records.
    """
    values = sys.elasticity_values[name]
    pos = sys.params.mutable[name].pos
    k = np.zeros(1, dtype=np.int64) if idx is None else idx
    return values[k], pos[k]


def ces_children(sys: EquationSpace, rows, child, parent, theta, sigma, scale=None) -> None:
    """Terms θ·(child/(parent·scale))^(1−σ) of a CES price index, log form where σ = 1.

    ``sigma`` is (values, θ positions) from :func:`sigma_columns`, per term or one for all.
    """
    values, pos = (np.broadcast_to(a, np.shape(rows)) for a in sigma)
    scale = sys.params.const(1.0, len(rows)) if scale is None else scale
    cd = np.isclose(values, 1.0)
    for mask, kind in ((~cd, "ces"), (cd, "cd")):
        sys.terms.add(
            kind,
            rows[mask],
            [child[mask], parent[mask]],
            BASIC_KINDS[kind].columns(sigma=pos[mask], scale=scale[mask]),
            theta[mask],
        )


def _sigma(sys: EquationSpace, tree: Tree, name: str, owner: Owner):
    """(values, θ positions) of a nest's elasticity at each owner: by sector for firms."""
    if tree.agent == "firms":
        return sigma_columns(sys, name, owner[0])
    values, pos = sigma_columns(sys, name)
    n = len(owner[0])
    return np.broadcast_to(values, (n,)), np.broadcast_to(pos, (n,))


def _agent_axis(shares: TreeShares, owner: Owner) -> np.ndarray:
    """The agent g of pa[i, g, r] at each owner: the sector for firms."""
    return owner[0] if shares.tree.agent == "firms" else np.full(len(owner[0]), shares.agent)


def _leaf_price(sys: EquationSpace, kind: str, leaf, g, owner: Owner) -> np.ndarray:
    """Positions of a leaf's price: pf (mobile) or ps (specific) of a factor, pa of a good."""
    r = owner[-1]
    if kind == "good":
        return sys.var["pa"].pos[leaf, g, r]
    pf, ps = sys.var["pf"].pos[leaf, r], sys.var["ps"].pos[leaf, owner[0], r]
    return np.where(pf >= 0, pf, ps)


def nest_prices(sys: EquationSpace, tree: Tree) -> None:
    """Every price index of a tree: the root's (zero profit of the activity, or the definition
    of the agent's price) and ``def_<price>`` of each inner nest where it has a price."""
    shares = sys.nest_shares[tree.agent]
    for node in tree.root.nests():
        owner = tuple(np.argwhere(shares.exists[node.price]).T)
        price = sys.var[node.price].pos[owner]
        rows, scale = price, None
        if node is tree.root:
            rows = sys.var[tree.equation].pos[owner]
            if tree.scale is not None:
                scale = sys.params.mutable[tree.scale].pos[owner]
        if scale is None:
            scale = sys.params.const(1.0, len(rows))
        at = _At(rows, price, np.ones(len(rows)), _sigma(sys, tree, node.sigma, owner), scale)
        _children(sys, shares, node, owner, at)


@dataclass
class _At:
    """The columns a nest's child terms share, one entry per owner: the equation's rows, the
    parent's price, the share factor of the merged nests above, σ (values, θ positions) and
    the scale of the parent's price."""

    rows: np.ndarray
    parent: np.ndarray
    theta: np.ndarray
    sigma: tuple[np.ndarray, np.ndarray]
    scale: np.ndarray

    def take(self, k: np.ndarray, share: np.ndarray | float = 1.0) -> _At:
        """The columns at owners k, the share factor times ``share``."""
        sigma = (self.sigma[0][k], self.sigma[1][k])
        return _At(self.rows[k], self.parent[k], self.theta[k] * share, sigma, self.scale[k])


def _children(sys: EquationSpace, shares: TreeShares, node: Nest, owner: Owner, at: _At) -> None:
    """The terms of node's children in its rows at ``owner``; in place of a merged child,
    the child's own children with their shares times the child's."""
    g = _agent_axis(shares, owner)
    for k, child in enumerate(node.children):
        if isinstance(child, Nest):
            own = np.flatnonzero(shares.exists[child.price][owner])
            sub = tuple(a[own] for a in owner)
            here = at.take(own, shares.share[child.price][sub])
            price = sys.var[child.price].pos[sub]
            ces_children(sys, here.rows, price, here.parent, here.theta, here.sigma, here.scale)
            merged = np.flatnonzero(shares.merged[child.price][owner])
            sub = tuple(a[merged] for a in owner)
            _children(sys, shares, child, sub, at.take(merged, shares.share[child.price][sub]))
            continue
        kind = leaf_kind(child)
        members = shares.members[node.price, k]
        which, cell = _leaf_cells(sys, kind, members, g, owner)
        leaf = members[which]
        sub = tuple(a[cell] for a in owner)
        here = at.take(cell, shares.leaf_share[kind][(leaf, *sub)])
        price = _leaf_price(sys, kind, leaf, g[cell], sub)
        ces_children(sys, here.rows, price, here.parent, here.theta, here.sigma, here.scale)


def _leaf_cells(sys: EquationSpace, kind: str, members, g, owner: Owner):
    """(member, owner) index pairs, member first, where the owner buys the leaf: a factor
    with payments vfm > 0, a good with an Armington composite pa."""
    r = owner[-1]
    if kind == "good":
        has = sys.var["pa"].pos[members[:, None], g[None], r[None]] >= 0
    else:
        has = sys.cal.sam.vfm[members[:, None], owner[0][None], r[None]] > 0
    return np.nonzero(has)


def demands(
    sys: EquationSpace,
    terms: Terms,
    tree: Tree,
    kind: str,
    leaf: np.ndarray,
    owner: Owner,
    price: np.ndarray | None,
    rows: np.ndarray,
    coef: np.ndarray,
    value: bool = False,
) -> None:
    """coef·demand of the tree's owners ``owner`` for the factors or goods (``kind``) ``leaf``,
    one term per cell, in ``rows``: a factor at its price (pf or ps), a good at ``price``
    (positions of py or pm) through the agent's Armington composite pa. ``value`` multiplies
    the demand by that price (a tax base)."""
    shares = sys.nest_shares[tree.agent]
    v, P = sys.var, sys.params
    g = _agent_axis(shares, owner)
    holder = shares.holder[kind][leaf]
    if tree.agent == "firms":
        activity = v[tree.activity].pos[owner]
    else:
        activity = v[tree.activity].pos[owner[-1]]
    parts: dict[str, list[np.ndarray]] = {}
    for held in sorted(set(holder.tolist())):
        cells = np.flatnonzero(holder == held)
        sub = tuple(a[cells] for a in owner)
        path = shares.path(held)
        code, path_sigma = _levels(sys, shares, path, sub)
        for shape in np.unique(code):
            at = np.flatnonzero(code == shape)
            cell, here = cells[at], tuple(a[at] for a in sub)
            kept = [k for k in range(len(path)) if shape >> k & 1]
            prices = [v[path[k].price].pos[here] for k in kept]
            sigmas = [path_sigma[k][at] for k in kept]
            leaf_price = _leaf_price(sys, kind, leaf[cell], g[cell], here)
            if kind == "good":
                prices.append(leaf_price)
                sigmas.append(sigma_columns(sys, sys.nests.armington, leaf[cell])[1])
            prices.append(price[cell] if kind == "good" else leaf_price)
            scaled = bool(kept) and kept[0] == 0 and tree.scale is not None
            named = dict(zip(sigma_names(len(sigmas)), sigmas, strict=True))
            if scaled:
                named["scale"] = P.mutable[tree.scale].pos[here]
            act = activity[cell]
            for who, mask in _demanders(tree, kind, act):
                name = demand_name(who, len(sigmas), scaled, value)
                x = ([act] if who != "fix" else []) + prices
                p = DEMAND_KINDS[name].columns(**named)
                level = [P.mutable[tree.fixed_level].pos[here[-1]]] if who == "fix" else []
                columns = np.stack([cell, *x, *p, *level])
                parts.setdefault(name, []).append(columns[:, mask])
    # One add per template, its instances in the order of the cells as given.
    for name in sorted(parts):
        table = np.concatenate(parts[name], axis=1)
        table = table[:, np.argsort(table[0], kind="stable")]
        nx, n_p = DEMAND_KINDS[name].nx, DEMAND_KINDS[name].np - 1
        cell, x, p, level = (
            table[0],
            table[1 : 1 + nx],
            table[1 + nx : 1 + nx + n_p],
            table[1 + nx + n_p :],
        )
        terms.add(name, rows[cell], list(x), list(p), coef[cell], list(level) or None)


def _demanders(tree: Tree, kind: str, activity: np.ndarray):
    """Who demands, with the cells of each: firms' factors or goods; a final agent whose
    activity is a variable (``fin``) or set by a parameter (``fix``)."""
    if tree.agent == "firms":
        return [("fac" if kind == "factor" else "prod", np.ones(len(activity), dtype=bool))]
    if tree.fixed_level is None:
        return [("fin", np.ones(len(activity), dtype=bool))]
    return [("fin", activity >= 0), ("fix", activity < 0)]


def _levels(sys: EquationSpace, shares: TreeShares, path: list[Nest], owner: Owner):
    """Which nests of a demand's path are levels of the demand at each owner (bit k of the
    code: path[k] has a price there and is not a dropped Leontief level), and each nest's σ
    positions."""
    tree = shares.tree
    n = len(owner[0])
    code = np.zeros(n, dtype=np.int64)
    sigma = []
    leading = np.ones(n, dtype=bool)
    for k, node in enumerate(path):
        values, pos = _sigma(sys, tree, node.sigma, owner)
        sigma.append(pos)
        level = np.ones(n, dtype=bool) if k == 0 else shares.exists[node.price][owner]
        if tree.drops_leontief:
            dropped = leading & level & (values == 0)
            leading &= ~level | (values == 0)
            level = level & ~dropped
        code |= level.astype(np.int64) << k
    return code, sigma
