"""`fragcge data from-result`: a result folder's scenario equilibrium as a dataset folder.

A result folder holds tables, not the solution, so the equilibrium is got back by solving
again what its manifest records: the scenario and its baseline chain (their text), on the
dataset whose sha256 it records, with the solver method it ran. Solving is deterministic,
costs about a second on the default data, and needs the dataset anyway (the flows are
evaluated by the model's templates); storing every solution in every result folder would
not spare that. The re-solved EVs must equal the folder's welfare.csv, which checks that the
dataset, the scenario and the code still give the result the folder holds.

The dataset is then :func:`fragcge.rebenchmark.rebenchmark`'s, written by
:func:`write_rebenchmarked` (which a run solved in this process, a risk file's world say, uses
directly) with a README that names its origin, through
:func:`fragcge.output_folder.replacing`: it appears whole, after it has been loaded back and
validated, or not at all.
"""

from __future__ import annotations

import dataclasses
import tempfile
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd

from fragcge.api import ModelCache, SolvedScenario, solve_loaded
from fragcge.calibration.dataset import (
    builtin_datasets,
    dataset_signature,
    load_dataset,
    write_dataset_files,
)
from fragcge.calibration.sam import GlobalSAM
from fragcge.calibration.validate import validate
from fragcge.errors import FragcgeError
from fragcge.model.report import dense
from fragcge.model.solve import RESIDUAL_TOL
from fragcge.output_folder import check_target, owner, replacing
from fragcge.rebenchmark import rebenchmark
from fragcge.reports.result_folders import Result, load_result
from fragcge.scenarios.load import load_scenario
from fragcge.scenarios.provenance import chain_sha256, scenario_record
from fragcge.scenarios.spec import Scenario

README = "README.md"

RECORDED = ("file", "text")
"""What a manifest records of each scenario file of a chain that solving it again needs."""

EV_ROUNDING = 5e-7
"""Half the last decimal welfare.csv writes EV with (results.FLOAT_FORMAT, six decimals)."""
EV_RTOL = RESIDUAL_TOL
"""How far, as a share of the region's baseline income, a re-solved EV may be from the file's:
the solver's tolerance on scaled residuals."""


def dataset_from_result(
    result_dir: Path,
    out: Path,
    data: str | Path | None = None,
    scenario_file: Path | None = None,
) -> tuple[GlobalSAM, SolvedScenario]:
    """Write the scenario equilibrium of the result folder ``result_dir`` as the dataset
    folder ``out``; return the dataset as loaded back, and the re-solved run.

    ``data`` is the dataset the result was solved on, needed when it is not a built-in one
    (the manifest records its sha256, not its folder) and ``scenario_file`` is not given;
    ``scenario_file`` the scenario file, needed when it reads per-route tables
    (:func:`solve_result`). ``out`` may be absent, empty or a
    dataset folder fragcge wrote; anything else is refused before anything is solved.
    FragcgeError, with nothing written, when ``result_dir`` is not a solved result, when the
    dataset is missing or differs from the one recorded, or when the re-solved EVs differ
    from the folder's welfare.csv.
    """
    out = Path(out)
    check_target(out, "dataset")
    result = read_result(Path(result_dir))
    run = solve_result(result, data, scenario_file)
    return write_rebenchmarked(run, out, result.path.name), run


def write_rebenchmarked(run: SolvedScenario, out: Path, result: str | None = None) -> GlobalSAM:
    """Write :func:`fragcge.rebenchmark.rebenchmark` of ``run`` as the dataset folder ``out``
    with a README of its origin (``result``: the result folder it was solved again from, if
    any); return the dataset as loaded back.

    Validated before anything is written, then written into a temporary sibling, loaded
    back and only then renamed to ``out`` (:func:`fragcge.output_folder.replacing`); ``out``
    may be absent, empty or a dataset folder fragcge wrote (OutputError otherwise).
    """
    out = Path(out)
    check_target(out, "dataset")
    sam = dataclasses.replace(rebenchmark(run), name=out.name)
    validate(sam)
    with replacing(out, "dataset") as tmp:
        write_dataset_files(sam, tmp)
        (tmp / README).write_text(readme(run, sam, result), encoding="utf-8")
        loaded = load_dataset(tmp)
    return dataclasses.replace(loaded, path=out.resolve())


def read_result(path: Path) -> Result:
    """A result folder of `fragcge solve` whose manifest says its solves succeeded."""
    if owner(path) != "result":
        raise FragcgeError(
            f"{path}: not a result folder written by `fragcge solve` (no result marker "
            "or manifest.json); give the folder a solve wrote"
        )
    result = load_result(path)
    run = result.manifest.get("batch")
    if run is not None:
        label = (run.get("label") or run.get("id")) if isinstance(run, dict) else None
        # The manifest records the batch or risk file a run came from, not the run's own
        # scenario (its overrides, its world's dataset), so it cannot be solved again.
        raise FragcgeError(
            f"{path}: a run of a batch or risk file ({label}), not a result of "
            "`fragcge solve`; write its scenario as a file and solve it with `fragcge solve` "
            "(a risk file's worlds are already datasets, in its worlds/ folder)"
        )
    solver = result.manifest.get("solver", {})
    for solve in ("baseline", "scenario"):
        record = solver.get(solve) if isinstance(solver, dict) else None
        if not isinstance(record, dict):
            raise FragcgeError(f"{path / 'manifest.json'}: has no solver.{solve} record")
        residual = record.get("largest_scaled_residual")
        tolerance = record.get("residual_tolerance")
        if not (
            isinstance(residual, int | float)
            and isinstance(tolerance, int | float)
            and residual < tolerance
        ):
            raise FragcgeError(
                f"{path / 'manifest.json'}: solver.{solve} records a failed solve (largest "
                f"scaled residual {residual!r}, tolerance {tolerance!r}); only a solved "
                "scenario's equilibrium can become a dataset"
            )
    return result


def solve_result(
    result: Result, data: str | Path | None = None, scenario_file: Path | None = None
) -> SolvedScenario:
    """Solve again the scenario ``result`` records, on its dataset, checking the dataset's
    sha256 and the EVs.

    The scenario is rebuilt from the manifest's text, or read from ``scenario_file`` (which
    must be the same chain of files, by sha256: needed for a scenario that reads per-route
    tables, which the manifest records by hash only). The dataset is ``data``, else the
    scenario's: a built-in one by name, or, from ``scenario_file``, its folder.
    """
    record = result.manifest["scenario"]
    if scenario_file is None:
        with tempfile.TemporaryDirectory(prefix="fragcge-from-result-") as folder:
            scenario = _recorded_scenario(record, Path(folder), result.path)
    else:
        scenario = load_scenario(scenario_file)
        if chain_sha256(scenario) != record.get("chain_sha256"):
            raise FragcgeError(
                f"{scenario_file}: not the scenario {result.path} was solved from (the sha256 "
                f"of its files, baselines and tables is {chain_sha256(scenario)}, the "
                f"manifest's {record.get('chain_sha256')}): a file changed since, or it is "
                "another scenario"
            )
    ref = scenario.data if data is None else data
    builtin = isinstance(ref, str) and ref in builtin_datasets()
    if data is None and scenario_file is None and not builtin:
        raise FragcgeError(
            f"{result.path}: its scenario reads the dataset {_record_data(record)!r}, not a "
            "built-in one, from a folder relative to the scenario file, whose place the "
            "manifest does not record; give the folder with --data, or the scenario file "
            f"with --scenario (sha256 {result.manifest['dataset'].get('sha256')})"
        )
    sam = load_dataset(ref)
    recorded = result.manifest["dataset"].get("sha256")
    if sam.digest != recorded:
        raise FragcgeError(
            f"dataset {ref} (sha256 {sam.digest}) is not the one {result.path} was solved on "
            f"({result.manifest['dataset'].get('name')}, sha256 {recorded}): it was changed "
            "since, or it is another dataset; give the original with --data"
        )
    scenario = _with_data(scenario, ref)
    cache = ModelCache(datasets={dataset_signature(ref): sam})
    method = result.manifest["solver"].get("method", "auto")
    run = solve_loaded(scenario, cache=cache, solver=str(method), decompose=False)
    _check_welfare(result, run)
    return run


def _record_data(record: dict) -> str:
    """The ``data = ...`` value of a recorded scenario's text."""
    return str(_scenario_table(record, Path(".")).get("data"))


def _scenario_table(record: dict, where: Path) -> dict:
    """The [scenario] table of a recorded scenario's text."""
    try:
        table = tomllib.loads(record["text"]).get("scenario")
    except tomllib.TOMLDecodeError as exc:
        raise FragcgeError(
            f"{where / 'manifest.json'}: the recorded text of {record['file']} is not valid "
            f"TOML ({exc}); the manifest was edited: solve the scenario again"
        ) from None
    if not isinstance(table, dict):
        raise FragcgeError(
            f"{where / 'manifest.json'}: the recorded text of {record['file']} has no "
            "[scenario] table; the manifest was edited: solve the scenario again"
        )
    return table


def _recorded_scenario(record: dict, folder: Path, where: Path) -> Scenario:
    """The scenario of a manifest record, loaded from its text and its baselines' written into
    ``folder`` at the places their ``baseline = ...`` keys name."""
    chain = []
    link: dict | None = record
    while link is not None:
        if not (isinstance(link, dict) and all(isinstance(link.get(k), str) for k in RECORDED)):
            raise FragcgeError(
                f"{where / 'manifest.json'}: its scenario record lacks the scenario's "
                f"{' and '.join(RECORDED)} (written by another version of fragcge?); solve the "
                "scenario again"
            )
        if Path(link["file"]).name != link["file"] or not link["file"].endswith(".toml"):
            raise FragcgeError(
                f"{where / 'manifest.json'}: records the scenario file {link['file']!r}, not "
                "the name of a .toml file; the manifest was edited: solve the scenario again"
            )
        if link.get("tables"):
            names = ", ".join(t["file"] for t in link["tables"])
            raise FragcgeError(
                f"{where}: scenario file {link['file']} reads per-route tables ({names}) that a "
                "result folder records by sha256 only; give the scenario file with --scenario"
            )
        chain.append(link)
        link = link.get("baseline")
    refs = [str(_scenario_table(link, where).get("baseline", "")) for link in chain[:-1]]
    # Deep enough for every "../" of the chain to stay inside folder.
    root = place = folder.joinpath(*["s"] * (1 + sum(ref.count("..") for ref in refs)))
    for k, link in enumerate(chain):
        place.mkdir(parents=True, exist_ok=True)
        path = place / link["file"]
        path.write_bytes(link["text"].encode("utf-8"))
        if k < len(refs):
            target = place / refs[k]
            if target.suffix != ".toml":
                target = target.with_name(target.name + ".toml")
            inside = folder.resolve() in target.resolve().parents
            if not inside or target.name != chain[k + 1]["file"]:
                raise FragcgeError(
                    f"{where}: manifest.json's scenario {link['file']} names baseline "
                    f"{refs[k]!r}, but records {chain[k + 1]['file']}"
                )
            place = target.parent
    return load_scenario(root / chain[0]["file"])


def _with_data(scenario: Scenario, data: str | Path) -> Scenario:
    """The scenario and every baseline of its chain reading the dataset ``data``."""
    baseline = None if scenario.baseline is None else _with_data(scenario.baseline, data)
    return dataclasses.replace(scenario, data=data, baseline=baseline)


def _check_welfare(result: Result, run: SolvedScenario) -> None:
    """The re-solved regional EVs must be the folder's, to the file's rounding and the
    solver's tolerance (EV_ROUNDING, EV_RTOL of the region's baseline income)."""
    regions = run.model.cal.sam.regions
    income = pd.Series(dense(run.model.system, run.base.x, "RA"), index=regions)
    mine = run.tables["welfare"].set_index("region").ev
    theirs = result.welfare.set_index("region").ev
    missing = [r for r in regions if r not in theirs.index]
    if missing:
        raise FragcgeError(
            f"{result.path / 'welfare.csv'}: no row for region(s) {', '.join(missing)} of the "
            "dataset it was solved on"
        )
    written = pd.to_numeric(theirs[list(regions)], errors="coerce")
    gap = (mine[list(regions)] - written).abs()
    bad = ~(gap <= EV_ROUNDING + EV_RTOL * income.abs())  # a cell that is not a number too
    if bool(np.any(bad)):
        rows = ", ".join(
            f"{r} {theirs[r]} in the file, {mine[r]:.6f} re-solved" for r in gap.index[bad]
        )
        raise FragcgeError(
            f"{result.path / 'welfare.csv'}: the scenario solved again on the recorded "
            f"dataset gives other EVs ({rows}): the folder does not hold this scenario's "
            "result on this dataset with this version of fragcge; solve it again first"
        )


def readme(run: SolvedScenario, sam: GlobalSAM, result: str | None = None) -> str:
    """The written dataset's README: where it comes from and what became of the wedges."""
    scenario = scenario_record(run.resolved.scenario)
    original = run.model.cal.sam
    s, theta = run.model.system, run.scen.theta
    rent = int(np.count_nonzero(s.param("tn", theta)))
    quota = int(np.count_nonzero(dense(s, run.scen.x, "rho", 0.0)))
    closed = int(np.count_nonzero((s.param("trade_open", theta) == 0) & (run.model.cal.vxmd > 0)))
    command = f"`fragcge data from-result {result}`" if result else "fragcge"
    lines = [
        f"# {sam.name}",
        "",
        f"Written by {command}: the counterfactual equilibrium of a solved scenario as a "
        "benchmark (every price and activity 1). Do not edit by hand; solve the scenario and "
        "write it again.",
        f"{len(sam.regions)} regions x {len(sam.sectors)} sectors; values in "
        f"{sam.meta.get('unit', 'the original dataset unit')} at the equilibrium's prices.",
        "",
        "## Origin",
        "",
        *([f"- result: {result} (solved again: its EVs equal its welfare.csv)"] if result else []),
        f"- scenario: {scenario['name']} ({scenario['file']}, sha256 {scenario['sha256']}): "
        f"{scenario['title']}",
        f"- baseline: {run.resolved.baseline_label}",
        f"- scenario chain sha256: {scenario['chain_sha256']}",
        f"- dataset: {original.name}, sha256 {original.digest}",
        f"- closure: {run.model.closure.name}; solver: {run.model.solver.method}",
        "",
        "## What became of the scenario's instruments",
        "",
        "- iceberg costs (ntb): in the flows shipped; the new tau is 1",
        f"- routes closed by export_ban: {closed} (no flow, no route of this dataset)",
        f"- routes with an importer's rent (ntb_rent), now in the tariff: {rent}",
        f"- routes with a binding export quota, now an export tax equivalent: {quota}",
        "- transfers: as solved (expenditure - income of each region)",
        "- elasticities and factor supply elasticities: those the scenario solved with",
        # A scenario on the dataset picks its own rule (default "fixed"); the world's rule
        # must be restated for a later scenario to continue it.
        f'- imbalance rule: not part of a dataset; `imbalances = "{run.model.closure.imbalances}"` '
        "in a scenario on it continues the world's",
        "",
        "Check it with `fragcge check --data DIR`; EVs of a scenario on it chain to the "
        "original world's as docs/data.md says.",
    ]
    return "\n".join(lines) + "\n"
