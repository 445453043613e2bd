"""Quadrature against Monte Carlo through the model: the same elasticity distributions, solved
as batches on a tiny synthetic dataset, give per-region EV means and standard deviations that
agree within Monte Carlo sampling error; and a Monte Carlo batch is reproducible from its seed.

tests/test_batch_design.py checks the design on known functions; here every point is a solved
equilibrium (baseline, scenario and welfare decomposition), read back from summary.csv.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fragcge.batch import run_batch
from fragcge.calibration.dataset import load_dataset, write_dataset
from fragcge.calibration.synthetic import synthetic_sam

N_MC = 200
"""Monte Carlo draws, about 0.1 s each on the tiny dataset: the file takes ~30 s. At 3 standard
errors this detects a quadrature mean off by more than ~0.2 sd of EV and an sd off by more than
~15%. Checked to fail: a 4-point sd computed with n - 1 (15.5% too large), quadrature points
pulled 20% towards the mean, and Monte Carlo draws of esubd on [0.7, 1.3], of esubm with mode
1.2, or of esubm uniform (not triangular) on [0.5, 1.5]; the last is caught only by the "pair"
row's sd, at ~3.5 standard errors, near what this many draws can tell apart."""
MC_SEED = 2011
MEASURES = ("ev", "ev_pct", "real_income_pct")

SCENARIO = """\
[scenario]
name = "tiny-friendshoring"
data = "tiny"

[blocs]
pair = ["R1", "R3"]

[[shock]]
instrument = "ntb"
between = ["R1", "R2"]
sectors = "all"
rate = 0.30
"""

# esubd uniform on [0.5, 1.5]; esubm triangular with its mode off the midpoint, so that the
# quadrature must get an asymmetric distribution's mean and variance right.
LOWER, UPPER, MODE = 0.5, 1.5, 0.8
UNCERTAIN = f"""
[uncertainty.esubd]
distribution = "uniform"
lower = {LOWER}
upper = {UPPER}
scope = "scale"

[uncertainty.esubm]
distribution = "triangular"
lower = {LOWER}
upper = {UPPER}
mode = {MODE}
scope = "scale"
"""
MEAN_ESUBD = (LOWER + UPPER) / 2
MEAN_ESUBM = (LOWER + MODE + UPPER) / 3  # the triangular distribution's mean, 14/15


@dataclass(frozen=True)
class Study:
    quadrature: pd.DataFrame  # summary.csv by region (bloc and WORLD rows too)
    monte_carlo: pd.DataFrame
    point: pd.DataFrame  # sweep.csv by region: EV at the mean multipliers
    quadrature_runs: pd.DataFrame  # runs.csv
    failures: dict[str, pd.DataFrame]


def _batch(folder: Path, name: str, body: str) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(f'[batch]\nname = "{name}"\nscenario = "scenario.toml"\n\n{body}')
    return path


def _monte_carlo(draws: int, seed: int) -> str:
    return f'[uncertainty]\nmethod = "montecarlo"\ndraws = {draws}\nseed = {seed}\n{UNCERTAIN}'


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, keep_default_na=False)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """3 regions x 2 sectors, no taxes or margins, and SCENARIO: +30% iceberg costs R1<->R2.

    The scenario's bare data name "tiny" is the dataset folder next to it (a folder of that
    name beside the scenario file wins over a built-in dataset).
    """
    folder = tmp_path_factory.mktemp("sensitivity")
    sam = synthetic_sam(3, 2, taxes=False, margins=False, seed=0)
    write_dataset(sam, folder / "tiny")
    (folder / "scenario.toml").write_text(SCENARIO)
    return folder


@pytest.fixture(scope="module")
def study(folder: Path) -> Study:
    """The quadrature and Monte Carlo batches, and the EV at the mean multipliers."""
    batches = {
        "quadrature": _batch(
            folder, "quadrature", '[uncertainty]\nmethod = "quadrature"\n' + UNCERTAIN
        ),
        "montecarlo": _batch(folder, "montecarlo", _monte_carlo(N_MC, MC_SEED)),
        "point": _batch(
            folder,
            "point",
            f'[sweep]\nzip = true\n"elasticities.esubd.scale" = [{MEAN_ESUBD!r}]\n'
            f'"elasticities.esubm.scale" = [{MEAN_ESUBM!r}]\n',
        ),
    }
    for name, path in batches.items():
        run_batch(path, folder / name, workers=1)
    by_region = {
        name: _read(folder / name / table).set_index("region")
        for name, table in [
            ("quadrature", "summary.csv"),
            ("montecarlo", "summary.csv"),
            ("point", "sweep.csv"),
        ]
    }
    return Study(
        by_region["quadrature"],
        by_region["montecarlo"],
        by_region["point"],
        _read(folder / "quadrature" / "runs.csv"),
        {name: _read(folder / name / "failures.csv") for name in batches},
    )


def test_every_run_of_both_batches_solves(study: Study) -> None:
    assert all(failures.empty for failures in study.failures.values()), study.failures
    assert list(study.quadrature.index) == list(study.monte_carlo.index)
    # Regions, the two-region bloc (a sum, not a copy of one region), R2 alone, the world.
    assert set(study.quadrature.index) == {"R1", "R2", "R3", "pair", "nonaligned", "WORLD"}
    assert (study.quadrature.runs == 4).all()  # 2N points for N = 2 parameters
    assert (study.monte_carlo.runs == N_MC).all()


@pytest.mark.parametrize("measure", MEASURES)
def test_quadrature_mean_agrees_with_monte_carlo(study: Study, measure: str) -> None:
    quad, mc = study.quadrature, study.monte_carlo
    # Three standard errors of the Monte Carlo mean. The floor covers the six decimals of
    # summary.csv (each mean rounded by up to 5e-7) and 1e-9 of |mean| for a row whose EV
    # barely varies; every row's sd here is far larger, so the floor decides nothing.
    tolerance = 3 * mc[f"{measure}_sd"] / math.sqrt(N_MC)
    tolerance += 1e-6 + 1e-9 * mc[f"{measure}_mean"].abs()
    gap = (quad[f"{measure}_mean"] - mc[f"{measure}_mean"]).abs()
    table = pd.DataFrame({"quadrature": quad[f"{measure}_mean"], "mc": mc[f"{measure}_mean"]})
    assert (gap <= tolerance).all(), table.assign(gap=gap, tolerance=tolerance).to_string()


@pytest.mark.parametrize("measure", MEASURES)
def test_quadrature_sd_agrees_with_monte_carlo(study: Study, measure: str) -> None:
    quad, mc = study.quadrature, study.monte_carlo
    # Three standard errors of a sample standard deviation, sd / sqrt(2 (n - 1)), which holds
    # for a near-normal variable; EV here is bounded (the multipliers are), so its tails are
    # thinner than a normal's and the true standard error is smaller: the bound is generous
    # in that direction only. Floor: summary.csv's six decimals.
    tolerance = 3 * mc[f"{measure}_sd"] / math.sqrt(2 * (N_MC - 1)) + 1e-6
    gap = (quad[f"{measure}_sd"] - mc[f"{measure}_sd"]).abs()
    table = pd.DataFrame({"quadrature": quad[f"{measure}_sd"], "mc": mc[f"{measure}_sd"]})
    assert (gap <= tolerance).all(), table.assign(gap=gap, tolerance=tolerance).to_string()


def test_the_comparison_is_about_a_spread_not_a_point(study: Study) -> None:
    quad, point = study.quadrature, study.point
    # The elasticities move welfare: EV varies in every row, by over 0.5% of income in some.
    assert (quad.ev_pct_sd > 0.05).all() and quad.ev_pct_sd.max() > 0.5, quad.ev_pct_sd
    # The four quadrature runs are four different pairs of multipliers, each a different EV.
    runs = study.quadrature_runs
    scales = ["elasticities.esubd.scale", "elasticities.esubm.scale"]
    assert runs.id.nunique() == 4
    assert len(runs[scales].drop_duplicates()) == 4
    for region, values in runs.groupby("region").ev:
        assert values.nunique() == 4, region
    # The quadrature mean sits near the EV at the mean multipliers (within one sd): EV is
    # smooth in the elasticities, so the point is where the distribution is centred.
    assert list(point.index) == list(quad.index)
    assert ((quad.ev_mean - point.ev).abs() < quad.ev_sd).all()


def test_monte_carlo_batch_is_reproducible_from_its_seed(folder: Path, tmp_path: Path) -> None:
    same = _batch(folder, "seed-5", _monte_carlo(6, 5))
    other = _batch(folder, "seed-6", _monte_carlo(6, 6))
    tables = {}
    for name, path in [("first", same), ("again", same), ("other", other)]:
        result = run_batch(path, tmp_path / name, workers=1)
        assert [o.status for o in result.outcomes] == ["solved"] * 6
        tables[name] = {t: (tmp_path / name / t).read_bytes() for t in ("summary.csv", "runs.csv")}
    assert tables["again"] == tables["first"]
    scales = ["elasticities.esubd.scale", "elasticities.esubm.scale"]
    first = _read(tmp_path / "first" / "runs.csv")[scales].drop_duplicates()
    other_draws = _read(tmp_path / "other" / "runs.csv")[scales].drop_duplicates()
    assert len(first) == len(other_draws) == 6
    assert first.merge(other_draws, how="inner").empty, "another seed, other draws"
    assert ((first >= LOWER) & (first <= UPPER)).all().all()


def test_each_run_records_its_own_elasticities(folder: Path, study: Study) -> None:
    """Runs share one model, built with the first run's elasticities; every manifest must
    still list the elasticities its run was solved with: the data's times its multipliers."""
    data = load_dataset(folder / "tiny")
    for path in sorted((folder / "montecarlo" / "runs").glob("*/manifest.json"))[:20]:
        manifest = json.loads(path.read_text())
        scale = manifest["batch"]["multipliers"]
        for name in ("esubd", "esubm"):
            recorded = manifest["elasticities"][name]
            values = zip(data.sectors, getattr(data, name), strict=True)
            expected = {sector: v * scale[name] for sector, v in values}
            assert recorded == pytest.approx(expected, rel=1e-15), (path, name)


def test_monte_carlo_summary_of_real_income_is_the_runs_statistics(folder: Path, study) -> None:
    """summary.csv's real income columns are the sample mean, sd (n - 1) and linear 5th and
    95th percentiles of runs.csv's real_income_pct, computed here with numpy (runs.csv's six
    decimals allow 1e-6)."""
    summary = study.monte_carlo
    runs = _read(folder / "montecarlo" / "runs.csv")
    assert runs.real_income_pct.abs().max() > 0.1
    for region, values in runs.groupby("region").real_income_pct:
        x = values.to_numpy(float)
        assert len(x) == N_MC
        expected = {
            "mean": x.mean(),
            "sd": x.std(ddof=1),
            "p5": np.percentile(x, 5),
            "p95": np.percentile(x, 95),
        }
        for stat, value in expected.items():
            assert summary.loc[region, f"real_income_pct_{stat}"] == pytest.approx(
                value, abs=1e-6
            ), (region, stat)


def test_a_resumed_batch_with_runs_written_before_real_income(folder: Path, tmp_path) -> None:
    """A run whose welfare.csv has no real_income_pct (solved by an earlier fragcge) is
    skipped on resume, as before; its real income is an empty cell in sweep.csv and the
    summary's real income statistics are empty, not computed from the other runs alone;
    EV's are unchanged."""
    path = _batch(folder, "resumed", '[sweep]\n"shock.1.rate" = [0.1, 0.2]\n')
    out = tmp_path / "resumed"
    run_batch(path, out, workers=1)
    complete = {t: _read(out / t) for t in ("summary.csv", "sweep.csv")}
    old = sorted((out / "runs").iterdir())[0]
    welfare = _read(old / "welfare.csv").drop(columns=["real_income_pct"])
    welfare.to_csv(old / "welfare.csv", index=False, float_format="%.6f")
    result = run_batch(path, out, workers=1)
    assert [o.status for o in result.outcomes] == ["skipped"] * 2
    summary, sweep = _read(out / "summary.csv"), _read(out / "sweep.csv")
    ev = [c for c in summary.columns if c.startswith("ev")]
    assert summary[ev].equals(complete["summary.csv"][ev])
    real = [c for c in summary.columns if c.startswith("real_income_pct_")]
    assert len(real) == 4 and (summary[real] == "").all().all()
    assert (complete["summary.csv"][real] != "").all().all()
    blank = sweep.real_income_pct == ""
    assert blank.sum() == len(welfare) and blank.sum() == len(sweep) // 2
    assert sweep.ev.equals(complete["sweep.csv"].ev)
