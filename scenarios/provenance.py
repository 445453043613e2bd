"""A scenario's text and hashes, as the run manifest records them."""

from __future__ import annotations

import hashlib

from fragcge.scenarios.source import SourceFile
from fragcge.scenarios.spec import BilateralTable, Scenario


def chain_sha256(scenario: Scenario) -> str:
    """sha256 over every file the scenario reads: baselines first, each followed by its CSVs."""
    digest = hashlib.sha256()
    for link in scenario.chain:
        for source in (link.source, *_tables(link)):
            digest.update(f"{source.path.name}\0{source.sha256}\n".encode())
    return digest.hexdigest()


def scenario_record(scenario: Scenario) -> dict[str, object]:
    """The manifest's entry: text and sha256 of the file, its CSVs, and its baseline's entry.

    Files are named without their folder, so that a rerun elsewhere writes the same record.
    """
    return {
        "name": scenario.name,
        "title": scenario.title,
        "file": scenario.path.name,
        "sha256": scenario.source.sha256,
        "text": scenario.source.text,
        "tables": [{"file": t.path.name, "sha256": t.sha256} for t in _tables(scenario)],
        "chain_sha256": chain_sha256(scenario),
        "baseline": scenario_record(scenario.baseline) if scenario.baseline else None,
    }


def _tables(scenario: Scenario) -> tuple[SourceFile, ...]:
    return tuple(s.table for s in scenario.shocks if isinstance(s, BilateralTable))
