"""Solving a Pyomo model a user has added to: the door through which a modeller extends the model.

:meth:`CGEModel.pyomo_model` gives the square system as Pyomo components. A modeller may add
Vars and Constraints to it, deactivate built-in equations and fix built-in variables, as
long as the system stays square (as many free variables as active equations). The built-in
equations keep their compiled CasADi evaluator; every added Constraint is converted to CasADi
by walking its Pyomo expression (Vars of the model become the solver's unknowns, the model's
mutable Params the scenario's θ entries, anything else a constant), and the whole is solved
by the same cyipopt driver (:func:`fragcge.model.solve.solve`) as the built-in system.
"""

from __future__ import annotations

from dataclasses import dataclass

import casadi
import numpy as np
import pyomo.environ as pyo
from pyomo.core.expr import numeric_expr as ne
from pyomo.core.expr.visitor import StreamBasedExpressionVisitor

from fragcge.errors import FragcgeError
from fragcge.model.cge import CGEModel, Equilibrium
from fragcge.model.pyomo_model import PyomoModel
from fragcge.model.shocks import ShockSet
from fragcge.model.solve import DEFAULT_LIMITS, SolveLimits, SolveResult, solve

_CASADI_FUNCTIONS = {
    "log": casadi.log,
    "exp": casadi.exp,
    "sqrt": casadi.sqrt,
    "log10": casadi.log10,
    "abs": casadi.fabs,
    "sin": casadi.sin,
    "cos": casadi.cos,
    "tan": casadi.tan,
    "tanh": casadi.tanh,
}
"""Pyomo's unary functions by name, in CasADi."""

_OPERATIONS = (
    (ne.SumExpression, lambda args: sum(args[1:], args[0]) if args else 0.0),
    (ne.ProductExpression, lambda args: args[0] * args[1]),
    (ne.DivisionExpression, lambda args: args[0] / args[1]),
    (ne.PowExpression, lambda args: args[0] ** args[1]),
    (ne.NegationExpression, lambda args: -args[0]),
)
"""The arithmetic of Pyomo's expression classes (their NPV_ and Linear variants are
subclasses), applied to CasADi values."""


class _ToCasadi(StreamBasedExpressionVisitor):
    """A Pyomo expression as a CasADi SX expression, given the SX of each Var and Param."""

    def __init__(self, symbol_of_var, symbol_of_param, where: str) -> None:
        super().__init__()
        self.symbol_of_var = symbol_of_var
        self.symbol_of_param = symbol_of_param
        self.where = where

    def leaf(self, node):
        if isinstance(node, (int, float, np.number)):
            return float(node)
        if node.is_variable_type():
            return self.symbol_of_var(node, self.where)
        if node.is_parameter_type():
            return self.symbol_of_param(node)
        return float(pyo.value(node))

    def beforeChild(self, node, child, child_idx):
        if isinstance(child, (int, float, np.number)) or not child.is_expression_type():
            return False, self.leaf(child)
        return True, None

    def exitNode(self, node, data):
        if node.is_named_expression_type():
            return data[0]
        if isinstance(node, ne.UnaryFunctionExpression):
            name = node.getname()
            if name not in _CASADI_FUNCTIONS:
                raise FragcgeError(
                    f"{self.where}: the function {name}() has no CasADi counterpart here; "
                    f"available: {', '.join(_CASADI_FUNCTIONS)}"
                )
            return _CASADI_FUNCTIONS[name](data[0])
        for kind, apply in _OPERATIONS:
            if isinstance(node, kind):
                return apply(data)
        raise FragcgeError(
            f"{self.where}: the Pyomo expression {type(node).__name__} ({node}) cannot be "
            f"converted to CasADi; write it with +, -, *, /, ** and "
            f"{', '.join(_CASADI_FUNCTIONS)}"
        )

    def convert(self, expr):
        """The SX of expr (a leaf or an expression)."""
        if isinstance(expr, (int, float, np.number)) or not expr.is_expression_type():
            return self.leaf(expr)
        return self.walk_expression(expr)


@dataclass
class ExtendedEquilibrium:
    """A solved point of an extended model: the built-in variables x (fixed ones at their
    fixed values), the added Vars' values by name, the solve's diagnostics and θ."""

    x: np.ndarray
    added: dict[str, float]
    result: SolveResult
    theta: np.ndarray


class Extension:
    """The square system of a Pyomo model a user has extended, ready for the cyipopt driver.

    Snapshots the Pyomo model when made: which built-in Vars are fixed (and at what
    value), which built-in equations are deactivated, which Vars and equality Constraints
    were added. Raises FragcgeError when the result is not square or an added Constraint
    cannot be converted.
    """

    def __init__(self, model: CGEModel, pyomo: PyomoModel) -> None:
        self.model = model
        system = model.system
        n = system.n
        base_ids = {id(v): k for k, v in enumerate(pyomo.vars)}
        builtin_rows = {id(c) for c in pyomo.equations}
        self.free = np.array([k for k, v in enumerate(pyomo.vars) if not v.fixed], dtype=int)
        self.fixed_x = np.array([float(v.value) if v.fixed else np.nan for v in pyomo.vars])
        self.kept_rows = np.array([k for k, c in enumerate(pyomo.equations) if c.active], int)
        m = pyomo.model
        self.added_vars = [
            v
            for v in m.component_data_objects(pyo.Var, descend_into=True)
            if id(v) not in base_ids and not v.fixed
        ]
        added_cons = [
            c
            for c in m.component_data_objects(pyo.Constraint, active=True, descend_into=True)
            if id(c) not in builtin_rows
        ]
        for c in added_cons:
            if not c.equality:
                raise FragcgeError(
                    f"added constraint {c.name} is an inequality; the model is a square "
                    "system of equations: write it as an equality (==)"
                )
        unknowns = len(self.free) + len(self.added_vars)
        equations = len(self.kept_rows) + len(added_cons)
        if unknowns != equations:
            raise FragcgeError(_not_square(pyomo, self, added_cons, unknowns, equations))
        self.n = unknowns
        self._col_of_base = np.full(n, -1)
        self._col_of_base[self.free] = np.arange(len(self.free))
        self._col_of_added = {id(v): len(self.free) + k for k, v in enumerate(self.added_vars)}
        for v in self.added_vars:
            if v.value is None:
                raise FragcgeError(f"added variable {v.name} has no value: give it a start value")
        theta_of = {id(p): k for k, p in pyomo.params.items()}
        z = casadi.SX.sym("z", self.n)
        theta = casadi.SX.sym("theta", len(system.benchmark_theta))

        def symbol_of_var(v, where: str):
            if v.fixed:
                return float(v.value)
            if id(v) in base_ids:
                return z[int(self._col_of_base[base_ids[id(v)]])]
            if id(v) in self._col_of_added:
                return z[self._col_of_added[id(v)]]
            raise FragcgeError(f"{where} uses {v.name}, which is not a variable of this model")

        def symbol_of_param(p):
            k = theta_of.get(id(p))
            return float(pyo.value(p)) if k is None else theta[k]

        rows = []
        for c in added_cons:
            where = f"added constraint {c.name}"
            to = _ToCasadi(symbol_of_var, symbol_of_param, where)
            rows.append(to.convert(c.body) - to.convert(c.upper))
        g = casadi.vertcat(*rows) if rows else casadi.SX(0, 1)
        jac = casadi.jacobian(g, z)
        self._added = casadi.Function("added", [z, theta], [g, jac])
        added_rows, added_cols = jac.sparsity().get_triplet()
        base_rows, base_cols = model.evaluator.structure()
        self._row_of_base = np.full(n, -1)
        self._row_of_base[self.kept_rows] = np.arange(len(self.kept_rows))
        self._base_keep = (self._row_of_base[base_rows] >= 0) & (self._col_of_base[base_cols] >= 0)
        self._rows = np.concatenate(
            [
                self._row_of_base[base_rows[self._base_keep]],
                len(self.kept_rows) + np.asarray(added_rows, dtype=int),
            ]
        ).astype(np.int64)
        self._cols = np.concatenate(
            [self._col_of_base[base_cols[self._base_keep]], np.asarray(added_cols, dtype=int)]
        ).astype(np.int64)
        labels, variables = system.labels(), system.variable_labels()
        self._labels = [labels[k] for k in self.kept_rows] + [c.name for c in added_cons]
        self._variable_labels = [variables[k] for k in self.free] + [
            v.name for v in self.added_vars
        ]
        floor = system.lower_bounds()
        # An added variable carries no sign restriction: the modeller knows what it means.
        self._floor = np.concatenate([floor[self.free], np.full(len(self.added_vars), -np.inf)])

    # The cyipopt driver takes an Extension both as its system (n, label, variable_label,
    # lower_bounds) and as its evaluator (structure, at).
    def structure(self) -> tuple[np.ndarray, np.ndarray]:
        """Row and column of each structural non-zero of the extended Jacobian."""
        return self._rows, self._cols

    def at(self, theta: np.ndarray) -> _ExtensionAt:
        """Residuals and Jacobian at parameters θ."""
        return _ExtensionAt(self, theta)

    def label(self, row: int) -> str:
        """The name of equation ``row``: the kept built-in ones, then the added Constraints."""
        return self._labels[row]

    def variable_label(self, column: int) -> str:
        """The name of unknown ``column``: the free built-in variables, then the added Vars."""
        return self._variable_labels[column]

    def lower_bounds(self) -> np.ndarray:
        """What a solution must exceed (the built-in variables' floors; none for added ones)."""
        return self._floor

    def full_x(self, z: np.ndarray) -> np.ndarray:
        """The built-in variables at unknowns z, fixed ones at their fixed values."""
        x = self.fixed_x.copy()
        x[self.free] = z[: len(self.free)]
        return x

    def start(self, at: Equilibrium | ExtendedEquilibrium | None = None) -> np.ndarray:
        """The unknowns at a point: the built-in variables at the benchmark (default) or at
        ``at``'s values; the added Vars at ``at``'s, when it is a solution of this extension
        (an ExtendedEquilibrium), else at their own values in the Pyomo model."""
        x = self.model.benchmark() if at is None else np.asarray(at.x, dtype=float)
        if len(x) != self.model.system.n:
            raise FragcgeError(
                f"the start has {len(x)} built-in variables, this model {self.model.system.n}: "
                "start from an equilibrium of the same CGEModel"
            )
        if isinstance(at, ExtendedEquilibrium):
            missing = [v.name for v in self.added_vars if v.name not in at.added]
            if missing:
                raise FragcgeError(
                    f"the start is a solution of another extension: it has no value for the "
                    f"added variable(s) {', '.join(missing[:5])}"
                )
            added = [at.added[v.name] for v in self.added_vars]
        else:
            added = [float(v.value) for v in self.added_vars]
        return np.concatenate([x[self.free], np.asarray(added, dtype=float)])

    def solve(
        self,
        shocks: ShockSet,
        x0: Equilibrium | ExtendedEquilibrium | None = None,
        extra: dict[str, np.ndarray] | None = None,
        limits: SolveLimits = DEFAULT_LIMITS,
    ) -> ExtendedEquilibrium:
        """Solve the extended system at the scenario's θ (:meth:`CGEModel.theta_for`) by the
        built-in driver (its homotopy steps and limits included), from x0 at x0's θ: a
        solution of this extension, or of the CGEModel (e.g. the scenario solved with the
        built-in equations; the added Vars then start at their Pyomo values); default the
        benchmark at the benchmark's θ."""
        target = self.model.theta_for(shocks, extra)
        theta0 = self.model.system.benchmark_theta if x0 is None else x0.theta
        result = solve(self, self, self.start(x0), theta0, target, limits)
        added = {v.name: float(result.x[len(self.free) + k]) for k, v in enumerate(self.added_vars)}
        return ExtendedEquilibrium(self.full_x(result.x), added, result, result.theta)


class _ExtensionAt:
    """The extended system's residuals and Jacobian at one θ."""

    def __init__(self, ext: Extension, theta: np.ndarray) -> None:
        self.ev = ext
        self._base = ext.model.evaluator.at(theta)
        self._theta = np.asarray(theta, dtype=float)

    def residuals(self, z: np.ndarray) -> np.ndarray:
        """Kept built-in residuals, then the added Constraints' (body − right-hand side)."""
        ext = self.ev
        base = self._base.residuals(ext.full_x(z))[ext.kept_rows]
        added, _ = ext._added(z, self._theta)
        return np.concatenate([base, np.asarray(added).ravel()])

    def jacobian_values(self, z: np.ndarray) -> np.ndarray:
        """Values in the order of :meth:`Extension.structure`."""
        ext = self.ev
        base = self._base.jacobian_values(ext.full_x(z))[ext._base_keep]
        _, jac = ext._added(z, self._theta)
        # Non-zeros in the column-major order of the sparsity's get_triplet (structure()).
        return np.concatenate([base, np.asarray(jac.nonzeros(), dtype=float)])


def _not_square(pyomo: PyomoModel, ext: Extension, added_cons, unknowns: int, eqs: int) -> str:
    """Why the extended system is not square, naming what was added and removed."""
    fixed = [v.name for v in pyomo.vars if v.fixed]
    dropped = [c.name for c in pyomo.equations if not c.active]

    def some(names: list[str]) -> str:
        return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")

    return (
        f"the extended Pyomo model is not square: {unknowns} free variables but {eqs} "
        f"active equations. Added variables ({len(ext.added_vars)}): "
        f"{some([v.name for v in ext.added_vars]) or 'none'}; fixed built-in variables "
        f"({len(fixed)}): {some(fixed) or 'none'}; added constraints ({len(added_cons)}): "
        f"{some([c.name for c in added_cons]) or 'none'}; deactivated built-in equations "
        f"({len(dropped)}): {some(dropped) or 'none'}. Each added or freed variable needs "
        "an added equation; each fixed variable, a deactivated one"
    )
