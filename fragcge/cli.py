"""The command line: fragcge solve, batch, report, appendix, check, data show|import|balance|
from-result."""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from fragcge import interrupt
from fragcge.errors import FragcgeError, SolveError

DEFAULT_DATA = "wiod2011_10x8"
DEFAULT_REPORT = "report"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `fragcge` command; returns the exit status."""
    with interrupt.caught():
        try:
            return _command(argv)
        except KeyboardInterrupt:
            return _interrupted()


def _command(argv: Sequence[str] | None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    warnings.simplefilter("default")
    warnings.formatwarning = lambda msg, cat, *a, **k: f"warning: {msg}\n"
    try:
        return args.run(args)
    except SolveError as exc:
        print(f"error: {exc}\nNo result files were written.", file=sys.stderr)
        return 1
    except FragcgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader (e.g. `| head`) closed the pipe; results were already written.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception:
        # A library (CasADi, mid-evaluation) may turn Ctrl-C into an error of its own.
        if interrupt.requested():
            return _interrupted()
        raise


def _interrupted() -> int:
    """Ctrl-C: one line, exit status 130 (128 + SIGINT, as shells report it)."""
    print(
        "interrupted: stopped on Ctrl-C; nothing half-written was left (folders written "
        "before it are complete)",
        file=sys.stderr,
    )
    return 130


def _parser() -> argparse.ArgumentParser:
    # Imported here, not at the top: until main() has set up Ctrl-C, an import of the
    # solver's libraries would make Ctrl-C print a traceback.
    from fragcge.model.solve import DEFAULT_LIMITS

    p = argparse.ArgumentParser(
        prog="fragcge",
        description="The welfare cost of geoeconomic fragmentation in a multi-region CGE model.",
    )
    sub = p.add_subparsers(metavar="COMMAND")
    solve = sub.add_parser("solve", help="solve a scenario file and write its results")
    solve.add_argument("scenario", type=Path, help="scenario file (.toml)")
    solve.add_argument("--out", type=Path, help="result folder (default: results/<name>)")
    solve.add_argument(
        "--time-limit",
        type=_seconds,
        metavar="SECONDS",
        help=f"seconds each solve may take before it gives up with its diagnosis (default "
        f"{DEFAULT_LIMITS.time_budget:g}; one run of the solver at most "
        f"{DEFAULT_LIMITS.max_wall_time:g})",
    )
    _add_solver_argument(solve)
    solve.set_defaults(run=_solve)
    batch = sub.add_parser("batch", help="solve every run of a batch file (sweep, uncertainty)")
    batch.add_argument("batch", type=Path, help="batch file (.toml)")
    _add_run_arguments(batch, "runs", "batch")
    _add_solver_argument(batch)
    batch.set_defaults(run=_batch)
    risk = sub.add_parser(
        "risk",
        help="expected welfare of worlds under disruption events (a risk file)",
        description="Solve each world of a risk file, rebenchmark it, solve every (world, "
        "event) pair through the batch runner, and write risk.csv, breakeven.csv, states.csv "
        "and figures; every EV is measured from the first world. See docs/risk.md.",
    )
    risk.add_argument("risk", type=Path, help="risk file (.toml)")
    _add_run_arguments(risk, "events", "risk")
    risk.set_defaults(run=_risk)
    report = sub.add_parser(
        "report", help="tables and figures from result folders, side by side when several"
    )
    report.add_argument(
        "results", type=Path, nargs="+", metavar="RESULT_DIR", help="folders written by solve"
    )
    report.add_argument(
        "--format", choices=("md", "latex", "csv"), default="md", help="table format (default md)"
    )
    report.add_argument(
        "--out",
        type=Path,
        default=Path(DEFAULT_REPORT),
        help=f"folder for tables/ and figures/ (default: {DEFAULT_REPORT}/ in the current folder)",
    )
    report.set_defaults(run=_report)
    appendix = sub.add_parser(
        "appendix",
        help="solve missing or outdated scenarios, regenerate every table and figure and index.md",
    )
    appendix.add_argument("scenarios", type=Path, nargs="+", metavar="SCENARIO", help=".toml")
    appendix.add_argument(
        "--out", type=Path, required=True, help="appendix folder (results/ are kept in it)"
    )
    appendix.set_defaults(run=_appendix)
    check = sub.add_parser(
        "check", help="benchmark replication, homogeneity and Walras' law on a dataset"
    )
    check.add_argument("--data", default=DEFAULT_DATA, help="dataset name or folder")
    _add_solver_argument(check)
    check.set_defaults(run=_check)
    data = sub.add_parser("data", help="datasets")
    data_sub = data.add_subparsers(metavar="ACTION")
    show = data_sub.add_parser("show", help="print a dataset's summary")
    show.add_argument("dataset", help="dataset name or folder")
    show.set_defaults(run=_data_show)
    _add_import_parsers(data_sub)
    balance = data_sub.add_parser(
        "balance",
        help="restore the identities of a dataset that fails validation; writes a new folder",
    )
    balance.add_argument("dataset", help="dataset name or folder (read without its identities)")
    balance.add_argument(
        "--method",
        choices=("ras", "gras", "least-squares"),
        default="gras",
        help="gras (default; RAS that also handles negative cells such as subsidies), ras, or "
        "least-squares (weighted squared relative changes, Ipopt; can hold totals fixed)",
    )
    balance.add_argument(
        "--fix",
        action="append",
        choices=("output", "value-added"),
        default=[],
        help="least-squares only: hold each activity's gross output, or each factor's income "
        "by region, at its value in DATASET (repeatable)",
    )
    balance.add_argument(
        "--transfers",
        choices=("auto", "adjust", "zero"),
        default="auto",
        help="regions' net transfers vb (expenditure - income, derived, so an edit shows in "
        "them): auto (default) balances as data those larger than the world's discrepancy "
        "|sum vb| and sets the others to zero; adjust balances every non-zero one; zero sets "
        "all to zero",
    )
    balance.add_argument(
        "--out",
        type=Path,
        required=True,
        help="dataset folder to write: absent, empty, or a dataset folder fragcge wrote (replaced)",
    )
    balance.set_defaults(run=_data_balance)
    from_result = data_sub.add_parser(
        "from-result",
        help="write the equilibrium of a solved scenario as a dataset folder (a new benchmark)",
        description="Solve again the scenario a result folder records, check its EVs against "
        "welfare.csv, and write its equilibrium as a dataset whose benchmark it is.",
    )
    from_result.add_argument(
        "result", type=Path, metavar="RESULT_DIR", help="a folder written by `fragcge solve`"
    )
    from_result.add_argument(
        "--out",
        type=Path,
        required=True,
        help="dataset folder to write: absent, empty, or a dataset folder fragcge wrote (replaced)",
    )
    from_result.add_argument(
        "--data",
        metavar="NAME|PATH",
        help="the dataset the result was solved on, when it is not a built-in one (its sha256 "
        "must be the manifest's)",
    )
    from_result.add_argument(
        "--scenario",
        type=Path,
        metavar="FILE",
        help="the scenario file the result was solved from, instead of the text its manifest "
        "records (needed when it reads per-route tables; its files' sha256 must be the "
        "manifest's)",
    )
    from_result.set_defaults(run=_data_from_result)
    return p


def _add_run_arguments(command: argparse.ArgumentParser, runs: str, name: str) -> None:
    """--workers, --out, --executor and --scheduler of a command that solves many runs
    through the batch runner (``runs``: what its workers solve; ``name``: its file's kind)."""
    command.add_argument(
        "--workers", type=_positive, default=1, help=f"processes solving {runs} (default 1)"
    )
    command.add_argument("--out", type=Path, help=f"result folder (default: results/<{name} name>)")
    command.add_argument(
        "--executor",
        choices=("local", "dask"),
        default="local",
        help="local processes (default), or a Dask LocalCluster of --workers processes",
    )
    command.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="a running Dask scheduler to send the runs to (implies --executor dask)",
    )


def _add_solver_argument(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--solver",
        choices=("ipopt", "newton", "auto"),
        default="auto",
        help="ipopt (the reference), newton (Newton–Krylov, for large models) or auto "
        "(by the model's size; the default)",
    )


def _add_import_parsers(data_sub: argparse._SubParsersAction) -> None:
    """`fragcge data import KIND SOURCE --out DIR [--regions MAP] [--sectors MAP]`."""
    from fragcge.calibration.importers import IMPORTERS

    imp = data_sub.add_parser(
        "import",
        help="write a dataset folder from another format (see docs/data.md)",
        description="Import a dataset; `fragcge check --data DIR` then replicates it.",
    )
    kinds = imp.add_subparsers(metavar="KIND")
    for importer in IMPORTERS.values():
        kind = kinds.add_parser(importer.kind, help=importer.summary, description=importer.summary)
        kind.add_argument("source", type=Path, metavar="SOURCE", help="file or folder to read")
        kind.add_argument(
            "--out",
            type=Path,
            required=True,
            help="dataset folder to write: absent, empty, or a dataset folder fragcge wrote "
            "(replaced)",
        )
        kind.add_argument(
            "--regions", type=Path, metavar="MAP.csv", help="region map (columns code,group)"
        )
        kind.add_argument(
            "--sectors", type=Path, metavar="MAP.csv", help="sector map (columns code,group)"
        )
        importer.add_arguments(kind)
        kind.set_defaults(run=_data_import, importer=importer)


def _solve(args: argparse.Namespace) -> int:
    from fragcge.api import solve_loaded
    from fragcge.calibration.dataset import dataset_origin
    from fragcge.model.closures import IMBALANCE_RULES
    from fragcge.model.solve import SolveLimits
    from fragcge.output_folder import check_target
    from fragcge.results import welfare_table, write_run
    from fragcge.scenarios.load import load_scenario

    t0 = time.perf_counter()
    scenario = load_scenario(args.scenario)
    out = args.out or Path("results") / scenario.name
    check_target(out, "result")  # before the solve, not after it
    limits = SolveLimits()
    if args.time_limit is not None:
        wall = min(limits.max_wall_time, args.time_limit)
        limits = replace(limits, time_budget=args.time_limit, max_wall_time=wall)
    run = solve_loaded(scenario, limits=limits, progress=_to_stderr, solver=args.solver)
    write_run(run, out)
    m, sam = run.model, run.model.cal.sam
    print(f"scenario   {run.resolved.label}")
    print(f"baseline   {run.resolved.baseline_label}")
    print(
        f"dataset    {sam.name} ({dataset_origin(sam)}): "
        f"{len(sam.regions)} regions x {len(sam.sectors)} sectors"
    )
    print(f"closure    {m.closure.name}: {m.closure.description}")
    print(f"imbalances {m.closure.imbalances}: {IMBALANCE_RULES[m.closure.imbalances]}")
    print(f"numeraire  {m.describe_numeraire()}")
    print(f"solver     {m.solver.label} ({m.solver.reason})")
    base, scen = run.base.result, run.scen.result
    baseline = (
        f"baseline {base.iterations}"
        if run.baseline_source == "solved"
        else f"baseline (from the {run.baseline_source}: {base.iterations} when solved)"
    )
    print(
        f"solved     {baseline} and scenario {scen.iterations} {m.solver.label} iterations "
        f"(status {scen.status}); largest scaled residual {scen.max_residual:.1e}, "
        f"Walras {run.scen.walras:.1e}"
    )
    for note in run.resolved.notes:
        print(f"note       {note}")
    print()
    print(welfare_table(run.tables["welfare"], str(sam.meta.get("unit", "value"))))
    print()
    print(f"results    {out}  ({time.perf_counter() - t0:.1f} s)")
    return 0


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _seconds(text: str) -> float:
    """A number of seconds > 0, for argparse."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return value


def _positive(text: str) -> int:
    """A whole number >= 1, for argparse."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _batch(args: argparse.Namespace) -> int:
    from fragcge.batch import BatchInterrupted, run_batch
    from fragcge.progress import Progress
    from fragcge.scenarios.batch_file import expand, load_batch

    progress = Progress(len(expand(load_batch(args.batch))))
    try:
        result = run_batch(
            args.batch,
            args.out,
            args.workers,
            progress,
            args.executor,
            args.scheduler,
            args.solver,
        )
    except BatchInterrupted as stop:
        progress.close()
        done = stop.result.count("solved") + stop.result.count("skipped")
        print(
            f"interrupted: {done} of {progress.total} runs are solved and saved in "
            f"{stop.result.out}, with tables of them; run the same command again to resume.",
            file=sys.stderr,
        )
        return 130
    progress.close()
    failed = result.count("failed")
    print(
        f"batch      {result.name}: {len(result.outcomes)} runs, {result.count('solved')} solved, "
        f"{result.count('skipped')} skipped, {failed} failed in {result.seconds:.1f} s; "
        f"results in {result.out}"
    )
    if failed:
        print(f"failures   {result.out / 'failures.csv'}", file=sys.stderr)
    return 1 if failed else 0


def _risk(args: argparse.Namespace) -> int:
    from fragcge.progress import Progress
    from fragcge.risk import RiskInterrupted, run_risk, runs_count
    from fragcge.scenarios.risk_file import load_risk

    def world(outcome) -> None:
        reason = f": {outcome.message.splitlines()[0]}" if outcome.message else ""
        print(
            f"world      {outcome.name} {outcome.status} in {outcome.seconds:.1f} s{reason}",
            file=sys.stderr,
            flush=True,
        )

    progress = Progress(runs_count(load_risk(args.risk)))
    try:
        result = run_risk(
            args.risk, args.out, args.workers, progress, args.executor, args.scheduler, world
        )
    except RiskInterrupted as stop:
        progress.close()
        print(
            f"interrupted: the runs solved are saved in {stop.result.out}, with tables of "
            "them; run the same command again to resume.",
            file=sys.stderr,
        )
        return 130
    progress.close()
    failed = result.count("failed") + sum(w.status == "failed" for w in result.worlds)
    print(_risk_summary(result.out / "risk.csv"))
    print(
        f"risk       {result.name}: {len(result.worlds)} worlds, {len(result.outcomes)} event "
        f"runs, {result.count('solved')} solved, {result.count('skipped')} skipped, "
        f"{result.count('failed')} failed in {result.seconds:.1f} s; results in {result.out}"
    )
    if failed:
        print(f"failures   {result.out / 'failures.csv'}", file=sys.stderr)
    return 1 if failed else 0


def _risk_summary(table: Path) -> str:
    """The bloc and WORLD rows of risk.csv in % of income: each world's expected EV, certainty
    equivalent and net gain over the first world (empty where a cell is missing)."""
    import pandas as pd

    risk = pd.read_csv(table, keep_default_na=False, dtype=str)
    rows = risk[(risk.measure == "ev_pct") & (risk.region == risk.bloc)]
    lines = [f"{'world':<16}{'bloc':<14}{'expected %':>12}{'CE %':>10}{'net gain %':>12}"]
    for row in rows.itertuples():
        cells = [row.expected, row.certainty_equivalent, row.net_gain]
        shown = [f"{float(v):.3f}" if v else "" for v in cells]
        lines.append(f"{row.world:<16}{row.region:<14}{shown[0]:>12}{shown[1]:>10}{shown[2]:>12}")
    return "\n".join(lines)


def _report(args: argparse.Namespace) -> int:
    from fragcge.reports.report import write_report
    from fragcge.reports.result_folders import load_result

    results = [load_result(path) for path in args.results]
    items = write_report(results, args.out, [args.format])
    for item in items:
        print(f"{item.kind:<7}{item.name:<36}{', '.join(str(f) for f in item.files)}")
    return 0


def _appendix(args: argparse.Namespace) -> int:
    from fragcge.reports.appendix import build_appendix

    build_appendix(args.scenarios, args.out)
    return 0


def _check(args: argparse.Namespace) -> int:
    from fragcge.calibration.calibrate import calibrate
    from fragcge.calibration.dataset import dataset_origin, load_dataset
    from fragcge.model.cge import CGEModel
    from fragcge.model.checks import run_checks

    sam = load_dataset(args.data)
    model = CGEModel(calibrate(sam), solver=args.solver)
    print(
        f"dataset    {sam.name} ({dataset_origin(sam)}): {model.system.n} variables, "
        f"{model.evaluator.nnz} non-zeros"
    )
    print(f"numeraire  {model.describe_numeraire()}")
    print(f"solver     {model.solver.label} ({model.solver.reason})")
    checks = run_checks(model)
    for c in checks:
        print(f"{'PASS' if c.passed else 'FAIL'}  {c.name:<22} {c.detail}")
    return 0 if all(c.passed for c in checks) else 1


def _data_import(args: argparse.Namespace) -> int:
    from fragcge.calibration.importers import import_dataset

    t0 = time.perf_counter()
    try:
        sam = import_dataset(args.importer, args.source, args.out, args, args.regions, args.sectors)
    except KeyboardInterrupt:
        print(f"interrupted: nothing was written to {args.out}", file=sys.stderr)
        return 130
    print(
        f"wrote {args.out}: {len(sam.regions)} regions x {len(sam.sectors)} sectors "
        f"({time.perf_counter() - t0:.1f} s); check it with `fragcge check --data {args.out}`"
    )
    return 0


def _data_balance(args: argparse.Namespace) -> int:
    from fragcge.calibration.balance_dataset import REPORT, balance_folder, summary

    try:
        result = balance_folder(
            args.dataset, args.out, args.method, tuple(args.fix), args.transfers
        )
    except KeyboardInterrupt:
        print(f"interrupted: nothing was written to {args.out}", file=sys.stderr)
        return 130
    print(summary(result))
    print(f"\ntransfers: {result.transfers}")
    print(
        f"wrote {args.out}: {result.unbalanced} unbalanced account(s) balanced by "
        f"{args.method}; every change in {args.out / REPORT}"
    )
    return 0


def _data_from_result(args: argparse.Namespace) -> int:
    from fragcge.from_result import dataset_from_result

    t0 = time.perf_counter()
    try:
        sam, run = dataset_from_result(args.result, args.out, args.data, args.scenario)
    except KeyboardInterrupt:
        print(f"interrupted: nothing was written to {args.out}", file=sys.stderr)
        return 130
    print(
        f"wrote {args.out}: the equilibrium of {run.resolved.label} as a dataset, "
        f"{len(sam.regions)} regions x {len(sam.sectors)} sectors "
        f"({time.perf_counter() - t0:.1f} s); check it with `fragcge check --data {args.out}`"
    )
    return 0


def _data_show(args: argparse.Namespace) -> int:
    from fragcge.calibration.dataset import load_dataset
    from fragcge.calibration.summary import summary

    print(summary(load_dataset(args.dataset)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
