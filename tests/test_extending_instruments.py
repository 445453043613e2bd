"""The instrument registry describes every instrument once, and one entry adds an instrument.

The built-in entries are checked for completeness (parameters the model has, a welfare
column, sweepable fields the record has, a row in docs/model.md). An instrument defined only
here, an ad valorem import tax, is registered, written in a scenario file, loaded, swept
and solved: it must give the built-in tariff's equilibrium at the same rate, since both
are the same tax on the importer's cif value. docs/extending.md quotes its entry.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from fragcge.calibration.calibrate import calibrate
from fragcge.calibration.synthetic import synthetic_sam
from fragcge.errors import ScenarioError
from fragcge.model.cge import CGEModel, Equilibrium
from fragcge.model.decomposition import COMPONENTS
from fragcge.model.route_wedges import WEDGES
from fragcge.model.shocks import ShockSet
from fragcge.scenarios import effects, fields, load_scenario, resolve
from fragcge.scenarios.batch_file import sweep_keys
from fragcge.scenarios.instruments import (
    REGISTRY,
    ROUTE,
    Instrument,
    Key,
    Levels,
    registered,
    route_cells,
)
from fragcge.scenarios.select import Selector
from fragcge.scenarios.spec import Origin, Route

DOCS = Path(__file__).resolve().parents[1] / "docs"
HEAD = '[scenario]\nname = "t"\ndata = "synthetic"\n'

# --- the worked example of docs/extending.md, "Adding an instrument" (quoted verbatim) ---


@dataclass(frozen=True)
class ImportTax:
    """An ad valorem tax on the importer's cif value: ``rate`` added to tm on the routes."""

    origin: Origin
    route: Route
    sectors: str | tuple[str, ...]
    rate: float

    @property
    def label(self) -> str:
        """How the shock reads in a report."""
        return f"import_tax {100 * self.rate:+g} points {self.route.label}"


def read_import_tax(table: dict, origin: Origin) -> ImportTax:
    """A [[shock]] table (keys already checked) as an ImportTax."""
    at = origin.at
    rate = fields.number(fields.required(table, "rate", at()), at("rate"))
    return ImportTax(origin, fields.route(table, at), fields.selection(table, "sectors", at), rate)


def apply_import_tax(levels: Levels, shock: ImportTax, selector: Selector) -> None:
    """tm + rate on the selected traded routes; 1 + tm must stay > 0."""
    cells = route_cells(shock, selector)
    where = shock.origin.at("rate")
    levels["tm"] = effects.ad_valorem(
        levels["tm"], cells, shock.rate, "add", where, selector.sam, "import tax", "tm"
    )


IMPORT_TAX = Instrument(
    name="import_tax",
    record=ImportTax,
    keys=(*ROUTE, Key("rate", "number: added to the tariff rate tm")),
    read=read_import_tax,
    parameters=("tm",),
    apply=apply_import_tax,
    owner="importer",
    component="alloc",
    sweepable={"rate": lambda shock, value, where: None},
)
# --- end of the worked example ---


@pytest.fixture
def import_tax():
    """The import tax registered for one test, and gone after it."""
    with registered(IMPORT_TAX) as entry:
        yield entry


def write(folder: Path, shocks: str) -> Path:
    path = folder / "scenario.toml"
    path.write_text(HEAD + shocks, encoding="utf-8")
    return path


def solve(path: Path) -> tuple[Equilibrium, ShockSet]:
    resolved = resolve(load_scenario(path), synthetic_sam())
    model = CGEModel(calibrate(resolved.sam))
    eq = model.solve(resolved.shocks)
    assert eq.result.ok, eq.result.message
    return eq, resolved.shocks


# Built-in entries


@pytest.mark.parametrize("entry", list(REGISTRY.values()), ids=list(REGISTRY))
def test_each_entry_is_complete(entry: Instrument) -> None:
    """Every entry changes ShockSet fields, names a welfare column, and sweeps record fields."""
    shock_fields = {f.name for f in dataclasses.fields(ShockSet)}
    assert entry.parameters and set(entry.parameters) <= shock_fields
    if entry.component is None:  # it applies another instrument, whose column it takes
        assert entry.name == "bilateral_table"
    else:
        assert entry.component in COMPONENTS
    record_fields = {f.name for f in dataclasses.fields(entry.record)}
    assert "origin" in record_fields and hasattr(entry.record, "label")
    assert set(entry.sweepable) <= record_fields
    assert len(set(entry.toml_keys)) == len(entry.toml_keys)
    assert entry.owner


def test_route_instruments_take_their_wedges_column_and_owner() -> None:
    """An instrument that changes one route wedge of the model names the welfare column and
    the owner the wedge declares (model.route_wedges), which the decomposition uses."""
    checked = set()
    for entry in REGISTRY.values():
        if len(entry.parameters) == 1 and entry.parameters[0] in WEDGES:
            wedge = WEDGES[entry.parameters[0]]
            assert entry.component == wedge.component, entry.name
            assert wedge.owner is None or entry.owner == wedge.owner, entry.name
            checked.add(wedge.name)
    assert checked == {"tau", "tm", "tx", "tn"}


def test_every_instrument_has_its_row_in_model_md() -> None:
    text = (DOCS / "model.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\s*\| `(\w+)` \|", text, re.M))
    assert set(REGISTRY) <= documented, set(REGISTRY) - documented


def test_register_refuses_a_taken_name_and_unknown_parameters() -> None:
    with pytest.raises(ValueError, match="already registered"):
        with registered(dataclasses.replace(IMPORT_TAX, name="tariff")):
            pass
    with pytest.raises(ValueError, match="not ShockSet levels"):
        with registered(dataclasses.replace(IMPORT_TAX, parameters=("tm", "carbon"))):
            pass
    assert "import_tax" not in REGISTRY


# An instrument added by one entry


def test_added_instrument_is_read_with_its_keys_checked(tmp_path: Path, import_tax) -> None:
    shock = '[[shock]]\ninstrument = "import_tax"\nfrom = "R1"\nto = "R2"\n'
    scenario = load_scenario(write(tmp_path, shock + "rate = 0.1\n"))
    assert scenario.shocks == (
        ImportTax(scenario.shocks[0].origin, Route(("R1",), ("R2",), False), "all", 0.1),
    )
    assert sweep_keys(scenario)[0] == "shock.1.rate"
    with pytest.raises(ScenarioError) as bad_key:
        load_scenario(write(tmp_path, shock + 'rate = 0.1\nmode = "set"\n'))
    assert "scenario.toml:9" in str(bad_key.value) and "unknown key 'mode'" in str(bad_key.value)
    assert "allowed: between, from, instrument, rate, sectors, to" in str(bad_key.value)
    with pytest.raises(ScenarioError) as bad_rate:
        load_scenario(write(tmp_path, shock + 'rate = "ten"\n'))
    assert "scenario.toml:8" in str(bad_rate.value) and "expected a number" in str(bad_rate.value)


def test_unregistered_instrument_is_unknown_again(tmp_path: Path) -> None:
    path = write(tmp_path, '[[shock]]\ninstrument = "import_tax"\nto = "R2"\nrate = 0.1\n')
    with registered(IMPORT_TAX):
        load_scenario(path)
    with pytest.raises(ScenarioError, match="unknown instrument 'import_tax'"):
        load_scenario(path)


def test_import_tax_gives_the_tariffs_equilibrium(tmp_path: Path, import_tax) -> None:
    """A tax on the importer's cif value is a tariff: same θ, same solution to 1e-10."""
    route = 'between = ["R1", "R2"]\nsectors = ["S1", "S2"]\nrate = 0.2\n'
    tariff, tariff_shocks = solve(write(tmp_path, f'[[shock]]\ninstrument = "tariff"\n{route}'))
    tax, tax_shocks = solve(write(tmp_path, f'[[shock]]\ninstrument = "import_tax"\n{route}'))
    benchmark = ShockSet.benchmark(synthetic_sam())
    assert np.any(tax_shocks.tm != benchmark.tm)
    np.testing.assert_array_equal(tax_shocks.tm, tariff_shocks.tm)
    np.testing.assert_array_equal(tax.theta, tariff.theta)
    assert np.max(np.abs(tax.x - tariff.x)) < 1e-10
    assert np.max(np.abs(tax.x - 1)) > 1e-3  # the tax moved the economy


def test_import_tax_refuses_a_rate_that_makes_1_plus_tm_negative(
    tmp_path: Path, import_tax
) -> None:
    path = write(tmp_path, '[[shock]]\ninstrument = "import_tax"\nto = "R2"\nrate = -1.5\n')
    with pytest.raises(ScenarioError) as bad:
        resolve(load_scenario(path), synthetic_sam())
    assert "scenario.toml:7" in str(bad.value) and "1 + tm must stay > 0" in str(bad.value)


def test_extending_md_quotes_the_example_entry() -> None:
    """The guide's code is this file's instrument, so the test keeps the guide true."""
    guide = (DOCS / "extending.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", guide, re.S)
    source = Path(__file__).read_text(encoding="utf-8")
    example = source.split("(quoted verbatim) ---\n")[1].split("# --- end of")[0].strip()
    assert any(block.strip() == example for block in blocks)


def test_bilateral_table_takes_the_mode_and_bounds_of_the_instrument_it_applies(
    tmp_path: Path,
) -> None:
    """ntb multiplies τ (no mode, rate > -1); tariff adds points (a mode; any rate when added)."""
    (tmp_path / "rates.csv").write_text(
        "commodity,exporter,importer,rate\nS1,R1,R2,-1.5\n", encoding="utf-8"
    )
    table = '[[shock]]\ninstrument = "bilateral_table"\nfile = "rates.csv"\n'
    with pytest.raises(ScenarioError) as with_mode:
        load_scenario(write(tmp_path, table + 'apply = "ntb"\nmode = "add"\n'))
    message = str(with_mode.value)
    assert "scenario.toml:8" in message
    assert 'mode applies to apply = "tariff" or "export_tax" only' in message
    with pytest.raises(ScenarioError, match=r"rates.csv:2: rate = -1.5 must be > -1 for ntb"):
        load_scenario(write(tmp_path, table + 'apply = "ntb"\n'))
    (shock,) = load_scenario(write(tmp_path, table + 'apply = "tariff"\n')).shocks
    assert (shock.apply, shock.mode, shock.rows[0].rate) == ("tariff", "add", -1.5)
    with pytest.raises(ScenarioError, match=r"rates.csv:2: rate = -1.5 must be > -1 for tariff"):
        load_scenario(write(tmp_path, table + 'apply = "tariff"\nmode = "set"\n'))
