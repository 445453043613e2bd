"""A route wedge declared once (model.route_wedges) reaches every place a wedge acts in.

An instrument with a new model parameter, a carbon border adjustment levied by the importer
on the tariff-inclusive cif value, is defined only here: its wedge (one RouteWedge) and its
instrument (one Instrument entry). Written in a scenario file, loaded, resolved and solved,
it must give the equilibrium of the tariff that raises the delivered price by the same
factor, tm' = tm + rate·(1 + tm), whose revenue is then the same too, and the same welfare
decomposition. docs/extending.md quotes the two entries. A fob-side wedge (an export duty
added to tx) is checked the same way against the export tax.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from fragcge.calibration.calibrate import calibrate
from fragcge.calibration.synthetic import synthetic_sam
from fragcge.errors import ScenarioError
from fragcge.model import route_wedges
from fragcge.model.cge import CGEModel, Equilibrium
from fragcge.model.decomposition import COMPONENTS, decompose
from fragcge.model.report import welfare
from fragcge.model.route_wedges import RouteWedge
from fragcge.model.shocks import ShockSet
from fragcge.scenarios import fields, instruments, load_scenario, resolve
from fragcge.scenarios.instruments import ROUTE, Instrument, Key, Levels, route_cells
from fragcge.scenarios.select import Selector
from fragcge.scenarios.spec import Origin, Route

DOCS = Path(__file__).resolve().parents[1] / "docs"
HEAD = '[scenario]\nname = "t"\ndata = "synthetic"\n'

# --- docs/extending.md, "An instrument with a new wedge" (quoted verbatim) ---
CBAM = RouteWedge(
    name="cbam",
    on="delivered",
    owner="importer",
    component="alloc",
    meaning="carbon border adjustment: a charge on the tariff-inclusive cif value",
)


@dataclass(frozen=True)
class CarbonBorder:
    """A carbon border adjustment: ``rate`` on the importer's tariff-inclusive cif value."""

    origin: Origin
    route: Route
    sectors: str | tuple[str, ...]
    rate: float

    @property
    def label(self) -> str:
        """How the shock reads in a report."""
        return f"carbon_border {100 * self.rate:g}% {self.route.label}"


def non_negative(shock: object, value: float, where: str) -> None:
    """A charge must be >= 0."""
    if value < 0:
        raise ScenarioError(f"{where}: rate = {value:g} must be >= 0")


def read_carbon_border(table: dict, origin: Origin) -> CarbonBorder:
    """A [[shock]] table (keys already checked) as a CarbonBorder."""
    at = origin.at
    rate = fields.number(fields.required(table, "rate", at()), at("rate"))
    non_negative(None, rate, at("rate"))
    sectors = fields.selection(table, "sectors", at)
    return CarbonBorder(origin, fields.route(table, at), sectors, rate)


def apply_carbon_border(levels: Levels, shock: CarbonBorder, selector: Selector) -> None:
    """cbam = rate on the selected traded routes."""
    cells = route_cells(shock, selector)
    levels["cbam"] = np.where(cells, shock.rate, levels["cbam"])


CARBON_BORDER = Instrument(
    name="carbon_border",
    record=CarbonBorder,
    keys=(*ROUTE, Key("rate", "number >= 0: the charge on the tariff-inclusive cif value")),
    read=read_carbon_border,
    parameters=("cbam",),
    apply=apply_carbon_border,
    owner="importer",
    component="alloc",
    sweepable={"rate": non_negative},
)
# --- end of the worked example ---

EXPORT_DUTY = RouteWedge(
    name="xduty",
    on="fob",
    owner="exporter",
    component="alloc",
    meaning="an export duty whose rate adds to tx",
)


@pytest.fixture
def carbon_border():
    """The wedge and its instrument registered for one test, and gone after it."""
    with route_wedges.registered(CBAM), instruments.registered(CARBON_BORDER) as entry:
        yield entry


def scenario(folder: Path, shocks: str) -> Path:
    path = folder / "scenario.toml"
    path.write_text(HEAD + shocks, encoding="utf-8")
    return path


def decomposed(model: CGEModel, base: Equilibrium, scen: Equilibrium):
    table = decompose(model, base, scen).set_index("region")
    ev = welfare(model, base, scen, {}).set_index("region").ev
    return table, ev


def test_carbon_border_is_the_tariff_with_the_same_delivered_price(
    tmp_path: Path, carbon_border
) -> None:
    """cbam = c on the tariff-inclusive value is tm' = tm + c·(1 + tm): the same delivered
    price and the same revenue, so the same equilibrium (to 1e-10) and the same welfare
    decomposition, computed on the cbam wedge's own terms (θ differs)."""
    shock = 'between = ["R1", "R2"]\nsectors = ["S1", "S2"]\nrate = 0.15\n'
    path = scenario(tmp_path, f'[[shock]]\ninstrument = "carbon_border"\n{shock}')
    resolved = resolve(load_scenario(path), synthetic_sam())
    sam = resolved.sam
    model = CGEModel(calibrate(sam))
    assert "cbam" in model.system.params.mutable
    base = model.solve(resolved.baseline)
    with_cbam = model.solve(resolved.shocks, x0=base)
    assert with_cbam.result.ok, with_cbam.result.message

    cbam = resolved.shocks.level("cbam")
    assert np.count_nonzero(cbam) >= 4 and np.all(cbam[cbam != 0] == 0.15)
    tariff = resolved.baseline.replaced({"tm": sam.tm0 + cbam * (1 + sam.tm0)})
    with_tariff = model.solve(tariff, x0=base)
    assert np.max(np.abs(with_cbam.x - with_tariff.x)) < 1e-10
    assert np.max(np.abs(with_cbam.x / base.x - 1)) > 1e-3  # the charge moved the economy

    parts, ev = decomposed(model, base, with_cbam)
    same, _ = decomposed(model, base, with_tariff)
    scale = float(ev.abs().max())
    for column in COMPONENTS:
        np.testing.assert_allclose(parts[column], same[column], rtol=0, atol=1e-9 * scale)
    assert parts.alloc.abs().max() > 1e-3 * scale  # the charge's revenue is in alloc
    residual = ev - parts[list(COMPONENTS)].sum(axis=1)
    assert residual.abs().max() < 1e-3 * scale


def test_export_duty_is_the_export_tax_it_adds_to() -> None:
    """A fob wedge's rate adds to tx, its revenue goes to the exporter: the same equilibrium
    as tx + rate, and the same decomposition."""
    sam = synthetic_sam()
    cells = np.zeros(sam.vxmd.shape, dtype=bool)
    cells[:2, 0, 1] = True
    cells &= sam.vxmd > 0
    with route_wedges.registered(EXPORT_DUTY):
        model = CGEModel(calibrate(sam))
        bench = ShockSet.benchmark(sam)
        base = model.solve(bench)
        duty = model.solve(bench.replaced({"xduty": np.where(cells, 0.2, 0.0)}), x0=base)
        tax = model.solve(bench.replaced({"tx": np.where(cells, sam.tx0 + 0.2, sam.tx0)}), x0=base)
        assert np.max(np.abs(duty.x - tax.x)) < 1e-10
        assert np.max(np.abs(duty.x / base.x - 1)) > 1e-3
        parts, ev = decomposed(model, base, duty)
        same, _ = decomposed(model, base, tax)
    scale = float(ev.abs().max())
    for column in COMPONENTS:
        np.testing.assert_allclose(parts[column], same[column], rtol=0, atol=1e-9 * scale)


def test_a_wedge_registered_for_a_test_is_gone_after_it(tmp_path: Path) -> None:
    path = scenario(tmp_path, '[[shock]]\ninstrument = "carbon_border"\nto = "R2"\nrate = 0.1\n')
    with route_wedges.registered(CBAM), instruments.registered(CARBON_BORDER):
        load_scenario(path)
    assert "cbam" not in CGEModel(calibrate(synthetic_sam())).system.params.mutable
    with pytest.raises(ScenarioError, match="unknown instrument 'carbon_border'"):
        load_scenario(path)


def test_an_instrument_on_an_unregistered_wedge_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\['cbam'\], which are not ShockSet levels"):
        with instruments.registered(CARBON_BORDER):
            pass


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "tm"}, "already registered"),
        ({"on": "border"}, "expected one of"),
        ({"on": "iceberg"}, "an iceberg wedge has no owner"),
        ({"owner": None}, "an iceberg wedge has no owner"),
        ({"owner": "government"}, "is not in"),
        ({"benchmark": "tm0"}, "prices only"),
        ({"on": "cif", "benchmark": "tm0"}, "prices only"),
        ({"on": "iceberg", "owner": None, "benchmark": "tx0"}, "prices only"),
    ],
)
def test_register_refuses_an_inconsistent_wedge(change: dict, message: str) -> None:
    import dataclasses

    with pytest.raises(ValueError, match=message):
        with route_wedges.registered(dataclasses.replace(CBAM, **change)):
            pass
    assert "cbam" not in route_wedges.WEDGES


def test_carbon_border_rate_is_checked_at_its_line(tmp_path: Path, carbon_border) -> None:
    path = scenario(tmp_path, '[[shock]]\ninstrument = "carbon_border"\nto = "R2"\nrate = -0.1\n')
    with pytest.raises(ScenarioError, match=r"scenario.toml:7: \[\[shock\]\] #1 rate"):
        load_scenario(path)


def test_extending_md_quotes_the_new_wedge_example() -> None:
    """The guide's code is this file's wedge and instrument, so the test keeps it true."""
    guide = (DOCS / "extending.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", guide, re.S)
    source = Path(__file__).read_text(encoding="utf-8")
    example = source.split("(quoted verbatim) ---\n")[1].split("# --- end of")[0].strip()
    assert any(block.strip() == example for block in blocks)
