"""The appendix: solve what is missing or stale, then regenerate every table, figure and index."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from fragcge.errors import ReportError
from fragcge.output_folder import APPENDIX_TITLE, claim, remove, write_file
from fragcge.reports.formats import FORMATS
from fragcge.reports.report import Item, write_report
from fragcge.reports.result_folders import Result, load_result
from fragcge.scenarios.load import load_scenario
from fragcge.scenarios.provenance import chain_sha256
from fragcge.scenarios.spec import Scenario


@dataclass(frozen=True)
class Entry:
    """One scenario of the appendix: its file, its result and whether this run solved it."""

    scenario: Scenario
    result: Result
    solved: bool


def build_appendix(
    scenario_files: Sequence[Path], out: Path, log: Callable[[str], None] = print
) -> list[Entry]:
    """Bring DIR/results up to date, then write DIR/scenarios, DIR/comparison and DIR/index.md.

    DIR must be new, empty or an appendix folder of fragcge (OutputError otherwise); in it,
    fragcge replaces or deletes only the result and report folders it wrote."""
    scenarios = [load_scenario(Path(f)) for f in scenario_files]
    names = [s.name for s in scenarios]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ReportError(f"scenario name(s) given twice: {', '.join(dupes)}")
    claim(out, "appendix")
    entries = [_result(s, out / "results" / s.name, log) for s in scenarios]
    sections = []
    for e in entries:
        items = write_report([e.result], out / "scenarios" / e.scenario.name, FORMATS)
        sections.append(([e], items))
    # Stale reports of scenarios no longer listed must not survive into the appendix.
    listed = {e.scenario.name for e in entries}
    reports = out / "scenarios"
    for folder in sorted(reports.iterdir()) if reports.is_dir() else []:
        if folder.name not in listed and not folder.name.startswith("."):
            remove(folder, "report")
    if len(entries) > 1:
        items = write_report([e.result for e in entries], out / "comparison", FORMATS)
        sections.append((entries, items))
    else:
        remove(out / "comparison", "report")
    index = out / "index.md"
    write_file(index, _index(sections, out))
    log(f"index      {index}")
    return entries


def _result(scenario: Scenario, folder: Path, log: Callable[[str], None]) -> Entry:
    """The scenario's result folder, solved again when missing, incomplete or from another file."""
    sha = chain_sha256(scenario)
    try:
        result = load_result(folder)
        current = result.manifest["scenario"].get("chain_sha256") == sha
    except ReportError:
        current = False
    if current:
        log(f"up to date {scenario.name}  ({folder})")
        return Entry(scenario, result, solved=False)
    from fragcge.api import solve_scenario
    from fragcge.results import write_run

    write_run(solve_scenario(scenario.path), folder)
    log(f"solved     {scenario.name}  ({folder})")
    return Entry(scenario, load_result(folder), solved=True)


def _index(sections: list[tuple[list[Entry], list[Item]]], out: Path) -> str:
    """Which scenario produced which table and figure; nothing run-specific, so reruns match."""
    lines = [
        APPENDIX_TITLE,
        "",
        "Regenerate with `fragcge appendix SCENARIO... --out DIR`. Tables come in Markdown, "
        "LaTeX (needs booktabs) and CSV; figures in PNG and PDF.",
        "",
    ]
    for entries, items in sections:
        if len(entries) == 1:
            lines += [f"## {entries[0].scenario.name}", "", entries[0].scenario.title, ""]
        else:
            names = ", ".join(f"`{e.scenario.name}`" for e in entries)
            lines += ["## Comparison", "", f"Scenarios side by side: {names}.", ""]
        for e in entries:
            rel = e.result.path.relative_to(out).as_posix()
            lines.append(
                f"- `{e.scenario.name}`: from `{e.scenario.path.name}` "
                f"(chain sha256 `{chain_sha256(e.scenario)}`), results in [`{rel}`]({rel})"
            )
        lines += ["", "| kind | name | caption | files |", "| --- | --- | --- | --- |"]
        for item in items:
            links = " · ".join(_link(f, out) for f in item.files)
            lines.append(f"| {item.kind} | `{item.name}` | {item.caption} | {links} |")
        lines.append("")
    return "\n".join(lines)


def _link(file: Path, out: Path) -> str:
    rel = file.relative_to(out).as_posix()
    return f"[{file.suffix.lstrip('.')}]({rel})"
