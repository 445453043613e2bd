"""The Pyomo model of the square system, built from the same term templates as the evaluator.

Variables, mutable scenario parameters and one Constraint component per equation block
(``prf_Y``, ``mkt_py``, …, each paired with the variable of the same index), indexed by
codes: ``m.py['ELE', 'CHN']``, ``m.mkt_py['ELE', 'CHN']``. The numeraire is its own
constraint ``m.numeraire`` and the dropped market equation is deactivated (Walras' law);
the model is square. Users may inspect, print or hand it to any Pyomo solver.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import pyomo.environ as pyo

from fragcge.model.system import System
from fragcge.model.terms import all_kinds


class _PyomoOps:
    """The math functions the templates call, from Pyomo."""

    log = staticmethod(pyo.log)
    exp = staticmethod(pyo.exp)
    sqrt = staticmethod(pyo.sqrt)


@dataclass
class PyomoModel:
    """The ConcreteModel with its VarData in global order, its ConstraintData by row of the
    square system and its ParamData by θ position."""

    model: pyo.ConcreteModel
    vars: list
    params: dict[int, object]
    equations: list

    def load(self, x: np.ndarray, theta: np.ndarray) -> None:
        """Set every Var to x and every mutable Param to its value in θ."""
        for v, value in zip(self.vars, x.tolist(), strict=True):
            v.set_value(value, skip_validation=True)
        for k, p in self.params.items():
            p.set_value(float(theta[k]))


def build_pyomo(system: System, x: np.ndarray | None = None) -> PyomoModel:
    """A Pyomo ConcreteModel of the system at point x (default: the benchmark)."""
    x = system.start() if x is None else x
    m = pyo.ConcreteModel(name=f"fragcge[{system.cal.sam.name}]")
    var_of = _variables(m, system, x)
    param_of = _parameters(m, system)
    theta = system.benchmark_theta

    def p_value(k: int):
        return param_of.get(int(k), float(theta[k]))

    kinds = all_kinds(len(system.margin_rows))
    bodies: dict[int, list] = defaultdict(list)
    for g in system.groups:
        f = None if g.kind == "const" else kinds[g.kind].f
        for t in range(len(g.rows)):
            coef = float(g.coef[t])
            for k in g.coef_params[t]:
                if k >= 0:
                    coef = coef * p_value(k)
            if f is None:
                bodies[int(g.rows[t])].append(coef)
                continue
            xs = [var_of[int(k)] for k in g.x[t]]
            ps = [coef] + [p_value(k) for k in g.p[t]]
            bodies[int(g.rows[t])].append(f(xs, ps, _PyomoOps))
    block, idx, num_row = system.dropped
    dropped_key = _key(tuple(_codes(system, block, idx)))
    row = 0
    equations: list = [None] * system.n
    for name, eq in system.pairs:
        index = _index(system, name)
        rows = {key: row + k for k, key in enumerate(index)}
        if eq == block:
            # The dropped market's terms live in row n; its own row holds the numeraire.
            rows[dropped_key] = system.n
        row += len(index)
        con = pyo.Constraint(
            index, rule=lambda _m, *key, rows=rows: _equation(bodies[rows[_key(key)]])
        )
        m.add_component(eq, con)
        for key, k in rows.items():
            if k < system.n:
                equations[k] = con[key]
    m.numeraire = pyo.Constraint(expr=_equation(bodies[num_row]))
    equations[num_row] = m.numeraire
    getattr(m, block)[dropped_key].deactivate()
    m.walras_check = pyo.Expression(expr=sum(bodies[system.n]))
    return PyomoModel(m, [var_of[k] for k in range(system.n)], param_of, equations)


def _equation(terms: list):
    """Σ terms = 0 as a Pyomo relation."""
    return sum(terms) == 0


def _key(key: tuple):
    """Pyomo's key for a one-element index is the element itself."""
    return key[0] if len(key) == 1 else key


def _index(system: System, name: str) -> list:
    """Code tuples of a variable block's members, in global order."""
    return [_key(tuple(system.var_codes(name, idx))) for idx in system.var[name].members]


def _codes(system: System, block: str, idx: tuple[int, ...]) -> list[str]:
    """Codes of the dropped equation's index (block names its equation)."""
    var = next(v for v, eq in system.pairs if eq == block)
    return system.var_codes(var, np.asarray(idx))


def _variables(m: pyo.ConcreteModel, system: System, x: np.ndarray) -> dict[int, object]:
    """One Var component per block, initialised at x; returns global position → VarData."""
    var_of: dict[int, object] = {}
    for name, _ in system.pairs:
        block = system.var[name]
        index = _index(system, name)
        values = x[block.offset : block.offset + block.size]
        init = dict(zip(index, values.tolist(), strict=True))
        v = pyo.Var(index, initialize=init)
        m.add_component(name, v)
        for k, key in enumerate(index):
            var_of[block.offset + k] = v[key]
    return var_of


def _parameters(m: pyo.ConcreteModel, system: System) -> dict[int, object]:
    """Mutable Params for the scenario parameters the equations use; θ position → ParamData."""
    used: set[int] = set()
    for g in system.groups:
        used.update(np.unique(g.p).tolist())
        used.update(np.unique(g.coef_params[g.coef_params >= 0]).tolist())
    param_of: dict[int, object] = {}
    for name, block in system.params.mutable.items():
        pos = block.offset + np.arange(block.size)
        keep = np.flatnonzero(np.isin(pos, list(used)))
        cells = np.array(np.unravel_index(keep, block.pos.shape)).T if block.axes else None
        if not block.axes:
            p = pyo.Param(mutable=True, initialize=float(system.benchmark_theta[block.offset]))
            m.add_component(name, p)
            param_of[block.offset] = p
            continue
        index = [_key(tuple(system.codes(block.axes, cell))) for cell in cells]
        values = system.benchmark_theta[pos[keep]].tolist()
        p = pyo.Param(index, mutable=True, initialize=dict(zip(index, values, strict=True)))
        m.add_component(name, p)
        for key, k in zip(index, pos[keep], strict=True):
            param_of[int(k)] = p[key]
    return param_of
