"""Fingerprint of every shipped scenario's result tables, to compare before and after a refactor.

Run on demand (not part of the test suite):

    python benchmarks/tables_fingerprint.py > before.txt
    ... change the code ...
    python benchmarks/tables_fingerprint.py | diff before.txt -

Solves each scenario file in ``scenarios/`` (batch and risk files, which have a ``[batch]``
or ``[risk]`` table, are skipped) with ``fragcge solve`` into a temporary folder and prints
the sha256 of each CSV it wrote, one line per file. A refactor that must not change the
economics prints the same lines.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def scenario_files() -> list[Path]:
    """The shipped scenario files, batch and risk files left out, in name order."""
    files = sorted((ROOT / "scenarios").glob("*.toml"))
    return [f for f in files if not {"batch", "risk"} & set(tomllib.loads(f.read_text()))]


def fingerprint(scenario: Path, folder: Path) -> list[str]:
    """Solve scenario into folder; one 'scenario/table.csv sha256' line per table."""
    from fragcge.cli import main

    out = folder / scenario.stem
    with contextlib.redirect_stdout(io.StringIO()):
        status = main(["solve", str(scenario), "--out", str(out)])
    if status != 0:
        return [f"{scenario.stem}: exit {status}"]
    return [
        f"{scenario.stem}/{csv.name} {hashlib.sha256(csv.read_bytes()).hexdigest()}"
        for csv in sorted(out.glob("*.csv"))
    ]


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        for scenario in scenario_files():
            for line in fingerprint(scenario, Path(tmp)):
                print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
