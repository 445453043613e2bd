"""Writing a solved scenario: tidy CSV tables with fixed precision and a manifest."""

from __future__ import annotations

import json
import platform
from importlib import metadata
from pathlib import Path

import cyipopt
import numpy as np
import pandas as pd

from fragcge.api import SolvedScenario
from fragcge.model.cge import Equilibrium
from fragcge.model.closures import IMBALANCE_RULES
from fragcge.model.decomposition import (
    COMPONENTS,
    DEFAULT_STEPS,
    MAX_STEPS,
    RELIABLE,
    RESIDUAL_SHARE,
)
from fragcge.model.nests import elasticity_values, model_elasticities
from fragcge.model.report import REAL_INCOME
from fragcge.model.solve import HESSIAN, RESIDUAL_TOL
from fragcge.output_folder import replacing
from fragcge.scenarios.provenance import scenario_record

FLOAT_FORMAT = "%.6f"
"""Six decimals: values are in the dataset's unit (USD million: to the dollar), changes in %."""

SORT_KEYS = {
    "welfare": None,
    "macro": ["region"],
    "trade": ["commodity", "exporter", "importer"],
    "output": ["region", "sector"],
}

WELFARE_MEASURES = {
    "C": "EV of the household utility index C at baseline prices (G and I fixed); "
    "ev_pct in % of baseline regional income",
    "U": "EV of the regional utility U = C^ac G^ag I^ai (benchmark expenditure shares) at "
    "baseline prices; ev_pct in % of baseline regional income",
}

REAL_INCOME_MEASURE = (
    "real_income_pct: % change of regional income net of foreign transfers (factor income and "
    "taxes, RA - B) deflated by the household price index pc; blocs and WORLD: sums at baseline "
    "prices"
)

PACKAGES = ("fragcge", "pyomo", "cyipopt-wheels", "casadi", "numpy", "pandas")


def write_run(run: SolvedScenario, out: Path, extra: dict[str, object] | None = None) -> list[Path]:
    """Write manifest.json (plus ``extra``'s keys) and the tables into out, replacing it at once.

    OutputError, before anything is written, when out holds anything but a result folder."""
    out = Path(out)
    with replacing(out, "result") as tmp:
        for name, df in run.tables.items():
            keys = SORT_KEYS[name]
            table = df.sort_values(keys, kind="stable") if keys else df
            table.to_csv(
                tmp / f"{name}.csv", index=False, float_format=FLOAT_FORMAT, lineterminator="\n"
            )
        (tmp / "manifest.json").write_text(
            json.dumps({**manifest(run), **(extra or {})}, indent=2, sort_keys=False) + "\n",
            encoding="utf-8",
        )
    return sorted(out.iterdir())


def _solver(eq: Equilibrium) -> dict[str, object]:
    r = eq.result
    return {
        "method": r.solver,
        "status": r.status,
        "message": r.message,
        "iterations": r.iterations,
        "homotopy_runs": r.steps,
        "seconds": round(r.seconds, 3),
        "largest_scaled_residual": r.max_residual,
        "residual_tolerance": RESIDUAL_TOL,
        "walras_dropped_equation_residual": eq.walras,
        "options": r.options,
        **(
            {"factorizations": r.factorizations, "krylov_iterations": r.krylov_iterations}
            if r.solver == "newton"
            else {}
        ),
    }


def _unreliable(welfare: pd.DataFrame) -> list[str]:
    """Rows of welfare.csv whose decomposition is marked unreliable."""
    return list(welfare.region[~welfare[RELIABLE].astype(bool)])


def _elasticities(run: SolvedScenario) -> dict[str, object]:
    """Every elasticity the model solved with (the registry's, then those its nests declare),
    per sector (a sector → value table) or one number: the scenario's own, since a model
    reused across a batch was built with another run's."""
    sam = run.resolved.sam
    declared = model_elasticities(run.model.nests)
    values = {e.name: elasticity_values(sam, e).tolist() for e in declared}
    per_sector = {
        e.name: dict(zip(sam.sectors, values[e.name], strict=True))
        for e in declared
        if e.per_sector
    }
    return {**per_sector, **{e.name: values[e.name][0] for e in declared if not e.per_sector}}


def _factor_supply(run: SolvedScenario) -> dict[str, object]:
    # The scenario's own, like the elasticities: eta by factor and region.
    sam = run.resolved.sam
    eta = {
        f: dict(zip(sam.regions, np.asarray(sam.eta[k], float).tolist(), strict=True))
        for k, f in enumerate(sam.factors)
    }
    return {
        "supply": "endowment times (factor price / household price index pc) ** eta",
        "eta": eta,
    }


NOT_DECOMPOSED = (
    "not asked for: a batch decomposes its runs' welfare only when its batch file says "
    "decomposition = true in [batch] (the decomposition re-solves the model along the "
    "shock's path, most of a run's time); welfare.csv has ev, ev_pct and real_income_pct only"
)
"""The manifest's reason for a run without the welfare decomposition."""


def _decomposition(run: SolvedScenario) -> dict[str, object]:
    """The manifest's record of the welfare decomposition: how it was made, or why not."""
    if run.decomposition_steps is None:
        return {"computed": False, "why": NOT_DECOMPOSED}
    return {
        "computed": True,
        "components": list(COMPONENTS),
        "method": "differential decomposition integrated along the straight path of the "
        "parameters from baseline to scenario, trapezoid rule with Richardson "
        "extrapolation (Simpson); residual = ev minus the sum of the components",
        "steps": run.decomposition_steps,
        "refinement": f"steps doubled from {DEFAULT_STEPS} up to {MAX_STEPS} while a row's "
        f"residual exceeds {RESIDUAL_SHARE:g} of |ev|",
        "unreliable_rows": _unreliable(run.tables["welfare"]),
    }


def versions() -> dict[str, str]:
    """Versions of Python and the packages that decide the numbers."""
    out = {
        "python": platform.python_version(),
        "ipopt": ".".join(str(v) for v in cyipopt.IPOPT_VERSION),
    }
    for pkg in PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def manifest(run: SolvedScenario) -> dict[str, object]:
    """Everything needed to reproduce and audit a run."""
    model, sam = run.model, run.model.cal.sam
    return {
        "scenario": scenario_record(run.resolved.scenario),
        "baseline": run.resolved.baseline_label,
        "notes": list(run.resolved.notes),
        "dataset": {
            "name": sam.name,
            "sha256": sam.digest,
            "title": sam.meta.get("title"),
            "unit": sam.meta.get("unit"),
            "source": sam.meta.get("source"),
            "licence": sam.meta.get("licence"),
            "citation": sam.meta.get("citation"),
            "regions": list(sam.regions),
            "sectors": list(sam.sectors),
            "factors": {f: sam.factor_kind[f] for f in sam.factors},
        },
        "closure": {"name": model.closure.name, "meaning": model.closure.description},
        "imbalances": {
            "rule": model.closure.imbalances,
            "meaning": IMBALANCE_RULES[model.closure.imbalances],
        },
        "numeraire": model.describe_numeraire(),
        "dropped_equation": model.system.dropped_label(),
        "welfare_measure": WELFARE_MEASURES[model.closure.welfare],
        "real_income_measure": REAL_INCOME_MEASURE,
        "welfare_decomposition": _decomposition(run),
        "blocs": run.resolved.blocs,
        "elasticities": _elasticities(run),
        "factor_supply": _factor_supply(run),
        "model": {
            "variables": model.system.n,
            "jacobian_nonzeros": model.evaluator.nnz,
        },
        "solver": {
            "method": model.solver.method,
            "why": model.solver.reason,
            **({"hessian": HESSIAN} if model.solver.method == "ipopt" else {}),
            "limits": run.limits.record(),
            "baseline": {**_solver(run.base), "source": run.baseline_source},
            "scenario": _solver(run.scen),
        },
        "versions": versions(),
    }


def welfare_table(df: pd.DataFrame, unit: str) -> str:
    """The welfare table as text: region, bloc, EV, EV % of income and, where the table has
    it, the change in real income (%); blocs and WORLD last."""
    real = REAL_INCOME in df.columns
    header = f"{'region':<12}{'bloc':<12}{'EV (' + unit + ')':>22}{'EV %':>10}"
    lines = [header + (f"{'real income %':>16}" if real else "")]
    for k, row in enumerate(df.to_dict("records")):
        if row["region"] in set(df.bloc) and k and df.region.iloc[k - 1] not in set(df.bloc):
            lines.append("-" * len(lines[0]))
        line = f"{row['region']:<12}{row['bloc']:<12}{row['ev']:>22,.1f}{row['ev_pct']:>10.3f}"
        lines.append(line + (f"{row[REAL_INCOME]:>16.3f}" if real else ""))
    return "\n".join(lines)
