"""fragcge risk: expected welfare and certainty equivalents of worlds under disruption events.

The numbers the risk tables are held to come from outside the risk code: in a one-sector
Armington world with balanced trade every (world, event) welfare change has the closed form
of Arkolakis, Costinot and Rodríguez-Clare (2012), Ĉ = λ̂^(−1/(σ−1)), λ the domestic
expenditure share read off the trade flows of each solution; the world's change uses the
long-run σ, the event's (solved on the world's own equilibrium) the short-run σ.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from reference_data import armington_sam

from fragcge.api import solve_loaded
from fragcge.calibration.dataset import load_dataset, write_dataset
from fragcge.cli import main
from fragcge.errors import ScenarioError
from fragcge.model.report import dense, route_flows
from fragcge.risk import run_risk
from fragcge.risk_measures import (
    ALWAYS,
    NEVER,
    breakeven,
    certainty_equivalent,
    expected,
    state_probabilities,
)
from fragcge.scenarios.load import load_scenario
from fragcge.scenarios.resolve import resolve
from fragcge.scenarios.risk_file import load_risk

SIGMA = 5.0
SHORT_RUN = 0.5
"""Short-run multiplier of esubd and esubm: σ = 2.5, still a single CES over all sources."""
REGIONS = ("r0", "r1", "r2", "r3")
PROBABILITIES = {"r2-ban": 0.1, "a-ntb": 0.15}


def _trade() -> np.ndarray:
    """Balanced trade (each region's exports equal its imports) without bilateral balance:
    the symmetric part of some flows plus a circulation r → r+1. Large flows, so that the
    six decimals of the written welfare tables are far below 1e-8 of income."""
    flows = np.array(
        [
            [500.0, 40.0, 25.0, 35.0],
            [30.0, 420.0, 45.0, 20.0],
            [35.0, 25.0, 610.0, 30.0],
            [35.0, 30.0, 25.0, 380.0],
        ]
    )
    off = flows * (1 - np.eye(4))
    trade = (off + off.T) / 2 + np.roll(np.eye(4), 1, axis=1) * 7.0 + np.diag(np.diag(flows))
    assert np.allclose(trade.sum(axis=0), trade.sum(axis=1))
    return 1e4 * trade


WORLD = """
[scenario]
name = "{name}"
data = "./armington"

[blocs]
a = ["r0", "r1"]
b = ["r2", "r3"]

[[shock]]
instrument = "ntb"
{route}
rate = {rate}
"""

RISK = """
[risk]
name = "acr"
risk_aversion = {gamma}
events = "{events}"

[[world]]
name = "open"
scenario = "open.toml"

[[world]]
name = "shored"
scenario = "shored.toml"

[horizon]
kind = "short-run"
scale = {scale}
elasticities = ["esubd", "esubm"]

[blocs]
a = ["r0", "r1"]
b = ["r2", "r3"]

[[event]]
name = "r2-ban"
probability = {p1}

[[event.shock]]
instrument = "export_ban"
from = "r2"
to = "r0"

[[event]]
name = "a-ntb"
probability = {p2}

[[event.shock]]
instrument = "ntb"
from = "a"
to = "b"
rate = 1.0
"""


def _write_case(folder: Path, events: str = "exclusive", gamma: float = 2.0, **risk) -> Path:
    write_dataset(armington_sam(_trade(), SIGMA, REGIONS, name="armington"), folder / "armington")
    # The first world is not the benchmark, so that "from the first world" is tested.
    (folder / "open.toml").write_text(
        WORLD.format(name="open", route='from = "r0"\nto = "r3"', rate=0.1), encoding="utf-8"
    )
    (folder / "shored.toml").write_text(
        WORLD.format(name="shored", route='between = ["a", "b"]', rate=0.5), encoding="utf-8"
    )
    values = {"gamma": gamma, "events": events, "scale": SHORT_RUN}
    values |= {"p1": PROBABILITIES["r2-ban"], "p2": PROBABILITIES["a-ntb"], **risk}
    path = folder / "acr.toml"
    path.write_text(RISK.format(**values), encoding="utf-8")
    return path


def _domestic_share(run) -> np.ndarray:
    """λ_rr: each region's spending on its own good over its total spending, in value, from
    the solution's flows (imports: the goods shipped, τ·V units of the benchmark flow, at
    the exporter's price; domestic sales: output not shipped abroad)."""
    model, eq = run.model, run.scen
    shipped = route_flows(model, eq)["shipped"][0] * model.cal.vxmd[0]
    py = dense(model.system, eq.x, "py")[0]
    output = model.cal.vom[0] * dense(model.system, eq.x, "Y")[0]
    flows = shipped * py[:, None]
    flows[np.diag_indices_from(flows)] = py * (output - shipped.sum(axis=1))
    return np.diag(flows) / flows.sum(axis=0)


def _event_scenario(folder: Path, world: str, shocks: str) -> Path:
    """The event as a plain scenario file on the world's rebenchmarked dataset."""
    path = folder / f"check-{world}-{abs(hash(shocks))}.toml"
    path.write_text(
        f'[scenario]\nname = "check"\ndata = "./out/worlds/{world}"\n'
        f"[elasticities]\nesubd = {{ scale = {SHORT_RUN} }}\nesubm = {{ scale = {SHORT_RUN} }}\n"
        f'[blocs]\na = ["r0", "r1"]\nb = ["r2", "r3"]\n{shocks}',
        encoding="utf-8",
    )
    return path


SHOCKS = {
    "r2-ban": '[[shock]]\ninstrument = "export_ban"\nfrom = "r2"\nto = "r0"\n',
    "a-ntb": '[[shock]]\ninstrument = "ntb"\nfrom = "a"\nto = "b"\nrate = 1.0\n',
}


def _closed_form(folder: Path, states: list[tuple[str, ...]]) -> dict[str, dict]:
    """c = U/U_ref of every region, by world and state, from ACR on each solution's flows."""
    trade = _trade()
    before = np.diag(trade) / trade.sum(axis=0)
    ratios: dict[str, dict] = {}
    for world in ("open", "shored"):
        run = solve_loaded(load_scenario(folder / f"{world}.toml"))
        lam = _domestic_share(run)
        static = (lam / before) ** (-1.0 / (SIGMA - 1.0))
        ratios[world] = {(): static}
        short = SHORT_RUN * SIGMA
        for state in states[1:]:
            shocks = "".join(SHOCKS[name] for name in state)
            event = solve_loaded(load_scenario(_event_scenario(folder, world, shocks)))
            after = _domestic_share(event)
            ratios[world][state] = static * (after / lam) ** (-1.0 / (short - 1.0))
    reference = ratios["open"][()]
    return {w: {s: c / reference for s, c in by.items()} for w, by in ratios.items()}


def _region_rows(table: pd.DataFrame, world: str, column: str) -> np.ndarray:
    rows = table[(table.world == world) & (table.measure == "ev_pct")]
    return rows.set_index("region").loc[list(REGIONS), column].to_numpy(float) / 100.0


@pytest.mark.parametrize("events", ["exclusive", "independent"])
def test_risk_tables_reproduce_acr_closed_forms(tmp_path: Path, events: str) -> None:
    """Expected EV and certainty equivalents (γ = 2) to 1e-8 of income, from ACR; the
    break-even probability makes both worlds' expected welfare equal to 1e-10."""
    gamma = 2.0
    path = _write_case(tmp_path, events, gamma)
    result = run_risk(path, tmp_path / "out")
    assert result.count("failed") == 0
    names = list(PROBABILITIES)
    if events == "exclusive":
        states = [(), ("r2-ban",), ("a-ntb",)]
    else:
        states = [(), ("r2-ban",), ("a-ntb",), ("r2-ban", "a-ntb")]
    closed = _closed_form(tmp_path, states)

    def weights(p: dict[str, float]) -> np.ndarray:
        if events == "exclusive":
            return np.array([1 - sum(p.values()), *p.values()])
        return np.array([math.prod(p[n] if n in s else 1 - p[n] for n in names) for s in states])

    risk = result.tables["risk"]
    for world in ("open", "shored"):
        c = np.array([closed[world][s] for s in states])
        w = weights(PROBABILITIES)
        mean = w @ c
        ce = (w @ c ** (1 - gamma)) ** (1 / (1 - gamma))
        assert np.abs(c - 1).max() > 1e-3  # the events do something
        assert np.abs(_region_rows(risk, world, "expected") - (mean - 1)).max() < 1e-8
        assert np.abs(_region_rows(risk, world, "certainty_equivalent") - (ce - 1)).max() < 1e-8
        for s, state in enumerate(states[:3]):
            column = "none" if not state else state[0]
            np.testing.assert_allclose(_region_rows(risk, world, column), c[s] - 1, atol=1e-8)

    points = result.tables["breakeven"]
    points = points[points.region.isin(REGIONS)]
    crossing = points[~points.breakeven.isin([NEVER, ALWAYS, ""])]
    assert len(crossing) > 0
    for row in crossing.itertuples(index=False):
        p = dict(PROBABILITIES)
        p[row.event] = float(row.breakeven)
        k = REGIONS.index(row.region)
        welfare = {
            world: weights(p) @ np.array([closed[world][s][k] for s in states])
            for world in ("open", "shored")
        }
        assert abs(welfare["shored"] - welfare["open"]) < 1e-10, row


def test_certainty_equivalent_is_expected_ev_at_zero_aversion_and_falls_with_it() -> None:
    """γ = 0 gives the mean; the CE falls as γ rises (Jensen); one state gives its value."""
    ratios = np.array([[1.02, 0.99], [0.9, 0.97], [0.8, 1.01]])
    weights = np.array([0.7, 0.2, 0.1])
    np.testing.assert_allclose(
        certainty_equivalent(ratios, weights, 0.0), weights @ ratios, rtol=0, atol=1e-15
    )
    gammas = [0.0, 0.5, 1.0, 2.0, 5.0]
    values = np.array([certainty_equivalent(ratios, weights, g) for g in gammas])
    assert (np.diff(values, axis=0) < 0).all()
    # γ = 1 is the geometric mean, computed here without the power mean's formula.
    geometric = np.prod(ratios ** weights[:, None], axis=0)
    np.testing.assert_allclose(values[2], geometric, rtol=1e-14)
    for gamma in gammas:
        one = certainty_equivalent(ratios[:1], np.array([1.0]), gamma)
        np.testing.assert_allclose(one, ratios[0], rtol=1e-14)


def test_state_probabilities_and_breakeven() -> None:
    """Exclusive states sum to one with no disruption taking the rest; independent states are
    products; a break-even crossing is the root of the line, else never or always."""
    exclusive = state_probabilities([(), (0,), (1,)], [0.1, 0.3], False)
    np.testing.assert_allclose(exclusive, [0.6, 0.1, 0.3])
    independent = state_probabilities([(), (0,), (1,), (0, 1)], [0.1, 0.3], True)
    np.testing.assert_allclose(independent, [0.63, 0.07, 0.27, 0.03])
    assert breakeven(-1.0, 3.0, 0.0, 0.8) == pytest.approx(0.2)
    assert breakeven(1.0, 3.0, 0.0, 1.0) == ALWAYS
    assert breakeven(-1.0, -0.5, 0.0, 1.0) == NEVER
    np.testing.assert_allclose(expected(np.array([[1.0], [3.0]]), np.array([0.25, 0.75])), [2.5])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"p1": 1.2}, "probability = 1.2 must be in [0, 1]"),
        ({"p1": -0.1}, "probability = -0.1 must be in [0, 1]"),
        ({"p1": 0.6, "p2": 0.5}, "sum to 1.1"),
        ({"gamma": -1}, "risk aversion γ = -1 must be >= 0"),
        ({"scale": 0}, "scale = 0 must be in (0, 1]"),
    ],
)
def test_bad_numbers_are_refused_by_name(tmp_path: Path, change: dict, message: str) -> None:
    path = _write_case(tmp_path, **change)
    with pytest.raises(ScenarioError, match=re.escape(message)) as error:
        load_risk(path)
    assert str(error.value).startswith(str(path))


def test_independent_probabilities_may_sum_above_one(tmp_path: Path) -> None:
    risk = load_risk(_write_case(tmp_path, "independent", p1=0.6, p2=0.5))
    assert [s.name for s in risk.states()] == ["none", "r2-ban", "a-ntb", "r2-ban+a-ntb"]


def test_an_event_naming_an_unknown_bloc_is_refused_before_solving(tmp_path: Path) -> None:
    path = _write_case(tmp_path)
    text = path.read_text(encoding="utf-8").replace('from = "r2"', 'from = "c"')
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError) as error:
        run_risk(path, tmp_path / "out")
    line = text.splitlines().index('from = "c"') + 1
    assert f"acr.toml:{line}: [[event.shock]] #1 from" in str(error.value)
    assert "unknown bloc or region 'c'" in str(error.value)
    assert not (tmp_path / "out").exists()


def test_a_world_whose_solve_fails_is_recorded_and_its_cells_are_missing(
    tmp_path: Path, capsys
) -> None:
    """A transfer far above a region's income leaves no equilibrium: the world fails, its
    runs are not solved, the tables leave its cells empty and say so, nothing is averaged."""
    path = _write_case(tmp_path)
    world = (tmp_path / "shored.toml").read_text(encoding="utf-8")
    world += '\n[[shock]]\ninstrument = "transfer"\nvalues = { r0 = -1e9 }\nabsorb = "r1"\n'
    (tmp_path / "shored.toml").write_text(world, encoding="utf-8")
    status = main(["risk", str(path), "--out", str(tmp_path / "out")])
    assert status == 1
    out = tmp_path / "out"
    failures = pd.read_csv(out / "failures.csv", keep_default_na=False)
    assert list(failures.world) == ["shored", "shored", "shored"]
    assert list(failures.state) == ["", "r2-ban", "a-ntb"]
    assert "shored was not solved" in failures.message.iloc[1]
    risk = pd.read_csv(out / "risk.csv", keep_default_na=False)
    shored = risk[risk.world == "shored"]
    assert (shored[["none", "r2-ban", "a-ntb", "expected", "net_gain"]] == "").all().all()
    assert (shored.missing == "none r2-ban a-ntb").all()
    open_rows = risk[risk.world == "open"]
    assert (open_rows.expected != "").all() and (open_rows.missing == "").all()
    points = pd.read_csv(out / "breakeven.csv", keep_default_na=False)
    assert (points.breakeven == "").all() and (points.missing != "").all()
    printed = capsys.readouterr()
    assert "world      shored failed" in printed.err
    # Ipopt "succeeds" at a point with a negative value: the first line says it is none.
    assert "ended at a point that is not an equilibrium" in failures.message.iloc[0].splitlines()[0]
    # The printed summary shows risk.csv's bloc rows, and a missing cell as empty, not as 0.
    shown = {tuple(line.split()[:2]): line.split()[2:] for line in printed.out.splitlines()}
    for row in risk[(risk.measure == "ev_pct") & (risk.region == risk.bloc)].itertuples():
        expected = [
            f"{float(v):.3f}" for v in (row.expected, row.certainty_equivalent, row.net_gain) if v
        ]
        assert shown[(row.world, row.region)] == expected


CHAINED = """
[risk]
name = "chained"

[[world]]
name = "integrated"
scenario = "balanced-trade.toml"

[[world]]
name = "friend-shored"
scenario = "friendshoring-strategic.toml"

[blocs]
west = ["USA", "EUR", "OAD", "JPN", "KOR"]
east = ["CHN", "RUS"]

[groups]
strategic = ["ELE", "CHM", "MET", "MAC"]

[[event]]
name = "east-ban"
probability = 0.05

[[event.shock]]
instrument = "export_ban"
from = "east"
to = "west"
sectors = "strategic"
"""

DIRECT = """
[scenario]
name = "direct"
data = "wiod2011_10x8"
baseline = "balanced-trade"

[blocs]
west = ["USA", "EUR", "OAD", "JPN", "KOR"]
east = ["CHN", "RUS"]

[groups]
strategic = ["ELE", "CHM", "MET", "MAC"]
{world}
[[shock]]
instrument = "export_ban"
from = "east"
to = "west"
sectors = "strategic"
"""


def test_long_run_events_are_measured_from_the_first_world(tmp_path: Path) -> None:
    """In the long run an event solved on a rebenchmarked world is the world's shocks and the
    event's together, solved from the first world: the EVs of states.csv equal those of the
    combined scenario measured from balanced-trade, to 1e-8 of income (WIOD 10 x 8)."""
    shipped = Path(__file__).resolve().parents[1] / "scenarios"
    for name in ("balanced-trade", "friendshoring-strategic"):
        (tmp_path / f"{name}.toml").write_text(
            (shipped / f"{name}.toml").read_text(encoding="utf-8"), encoding="utf-8"
        )
    path = tmp_path / "chained.toml"
    path.write_text(CHAINED, encoding="utf-8")
    result = run_risk(path, tmp_path / "out")
    states = result.tables["states"]
    friendshoring = '[[shock]]\ninstrument = "ntb"\nbetween = ["west", "east"]\n'
    friendshoring += 'sectors = "strategic"\nrate = 0.30\n'
    for world, shocks in (("integrated", ""), ("friend-shored", friendshoring)):
        direct = tmp_path / f"direct-{world}.toml"
        direct.write_text(DIRECT.format(world=shocks), encoding="utf-8")
        expected = solve_loaded(load_scenario(direct), decompose=False).tables["welfare"]
        got = states[(states.world == world) & (states.state == "east-ban")]
        assert list(got.region) == list(expected.region)
        assert np.abs(got.ev_pct.to_numpy() - expected.ev_pct.to_numpy()).max() < 1e-6


def test_a_rerun_resumes_and_writes_the_same_bytes(tmp_path: Path) -> None:
    """Rerunning skips every solved run (the worlds solved again write the same datasets,
    so the run ids are found) and writes the same tables; changing a probability or γ
    solves nothing again."""
    path = _write_case(tmp_path)
    out = tmp_path / "out"
    first = run_risk(path, out)
    tables = {name: (out / f"{name}.csv").read_bytes() for name in first.tables}
    again = run_risk(path, out)
    assert again.count("skipped") == len(again.outcomes) == 4
    assert {name: (out / f"{name}.csv").read_bytes() for name in tables} == tables
    changed = run_risk(_write_case(tmp_path, p1=0.3, gamma=5.0), out)
    assert changed.count("skipped") == 4
    assert (out / "risk.csv").read_bytes() != tables["risk"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("[horizon]", "[horizons]"), "unknown table 'horizons'"),
        (('name = "r2-ban"', 'name = "none"'), "event 'none' is named twice"),
        (('kind = "short-run"', 'kind = "medium-run"'), "unknown horizon 'medium-run'"),
        (('elasticities = ["esubd", "esubm"]', 'elasticities = ["esubp"]'), "esubp"),
        (('events = "exclusive"', 'events = "correlated"'), "unknown kind of events"),
    ],
)
def test_bad_risk_files_are_refused_by_name(tmp_path: Path, edit: tuple, message: str) -> None:
    path = _write_case(tmp_path)
    path.write_text(path.read_text(encoding="utf-8").replace(*edit), encoding="utf-8")
    with pytest.raises(ScenarioError, match=re.escape(message)) as error:
        load_risk(path)
    assert str(path) in str(error.value)


def test_worlds_must_differ_only_by_their_shocks(tmp_path: Path) -> None:
    """Each difference is named; the error points at [horizon] only for what [horizon] can set
    (an event's closure and elasticities), not for imbalances or factor supply."""
    path = _write_case(tmp_path)
    shored = tmp_path / "shored.toml"
    text = shored.read_text(encoding="utf-8")
    cases = [
        (text.replace("[blocs]", "[elasticities]\nesubm = { scale = 2 }\n[blocs]"), "elasticities"),
        (
            text.replace('data = "./armington"', 'data = "./armington"\nclosure = "savings"'),
            "closure",
        ),
        (
            text.replace(
                'data = "./armington"', 'data = "./armington"\nimbalances = "income-share"'
            ),
            "imbalances",
        ),
        (text.replace("[blocs]", "[factor_supply]\nva = 0.5\n[blocs]"), "factor_supply"),
    ]
    for edited, what in cases:
        shored.write_text(edited)
        with pytest.raises(ScenarioError, match=f"other {what} than world 'open'") as error:
            load_risk(path)
        assert ("[horizon]" in str(error.value)) == (what in ("closure", "elasticities")), what


def test_a_closure_measuring_welfare_by_utility_is_refused(tmp_path: Path) -> None:
    path = _write_case(tmp_path)
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("[horizon]", '[horizon]\nclosure = "gov-share"'))
    with pytest.raises(ScenarioError, match="EVs cannot be chained"):
        load_risk(path)


def test_an_output_folder_of_someone_else_is_refused_before_solving(tmp_path: Path) -> None:
    path = _write_case(tmp_path)
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me", encoding="utf-8")
    assert main(["risk", str(path), "--out", str(out)]) == 2
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_the_shipped_risk_file_names_what_the_data_has() -> None:
    """scenarios/risk-strategic.toml: two worlds, two exclusive events whose blocs, groups and
    bans resolve on the worlds' dataset at the short-run elasticities."""
    shipped = Path(__file__).resolve().parents[1] / "scenarios" / "risk-strategic.toml"
    risk = load_risk(shipped)
    assert [w.name for w in risk.worlds] == ["integrated", "friend-shored"]
    assert [s.name for s in risk.states()] == ["none", "east-ban", "west-ban"]
    reference = risk.worlds[0].scenario
    sam = load_dataset(reference.data)
    for state in risk.states()[1:]:
        resolved = resolve(risk.event_scenario(state, reference.data, "integrated"), sam)
        assert not resolved.shocks.trade_open.all()  # each event closes routes
