"""Batch design: sweeps and elasticity draws expanded into runs, quadrature moments, summaries."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import fragcge.scenarios as scenarios_package
from fragcge.calibration.dataset import load_dataset
from fragcge.calibration.sam import GlobalSAM
from fragcge.errors import ScenarioError
from fragcge.scenarios import load_scenario, resolve
from fragcge.scenarios.batch_file import apply_run, expand, load_batch
from fragcge.scenarios.design import (
    Distribution,
    monte_carlo,
    quadrature,
    stroud_points,
    summarise,
)

SHIPPED = Path(scenarios_package.__file__).parent
FRIENDSHORING = SHIPPED / "friendshoring.toml"
HEAD = f'[batch]\nscenario = "{FRIENDSHORING.as_posix()}"\n'
UNIFORM = 'distribution = "uniform"\nlower = 0.5\nupper = 1.5\n'


@pytest.fixture(scope="module")
def sam() -> GlobalSAM:
    """The default dataset the shipped scenarios name."""
    return load_dataset("wiod2011_10x8")


def write(folder: Path, text: str) -> Path:
    path = folder / "study.toml"
    path.write_text(text, encoding="utf-8")
    return path


def uniform_moments(a: float, b: float) -> tuple[float, float]:
    return (a + b) / 2, (b - a) ** 2 / 12


def triangular_moments(a: float, c: float, b: float) -> tuple[float, float]:
    return (a + b + c) / 3, (a * a + b * b + c * c - a * b - a * c - b * c) / 18


# Shipped batch files


def test_rates_batch_sweeps_the_ntb_rate_from_0_to_100_percent() -> None:
    batch = load_batch(SHIPPED / "batch-friendshoring-rates.toml")
    runs = expand(batch)
    assert batch.name == "batch-friendshoring-rates"
    assert batch.source.text.lstrip().startswith("#"), "each file opens with its story"
    assert [run.overrides for run in runs] == [{"shock.1.rate": k / 10} for k in range(11)]
    assert all(run.weight == 1.0 and run.multipliers == {} for run in runs)
    assert len({run.id for run in runs}) == 11
    assert [run.id for run in expand(load_batch(batch.source.path))] == [r.id for r in runs]


def test_sensitivity_batch_is_a_four_point_quadrature() -> None:
    batch = load_batch(SHIPPED / "sensitivity-friendshoring.toml")
    runs = expand(batch)
    assert batch.source.text.lstrip().startswith("#")
    assert len(runs) == 4 and len({run.id for run in runs}) == 4
    assert all(run.overrides == {} and run.weight == 0.25 for run in runs)
    draws = np.array([[run.multipliers["esubd"], run.multipliers["esubm"]] for run in runs])
    np.testing.assert_allclose(draws.mean(axis=0), 1.0, atol=1e-15)
    np.testing.assert_allclose(np.cov(draws.T, bias=True), np.eye(2) / 12, atol=1e-15)


def test_a_swept_rate_reaches_the_shock_set(sam: GlobalSAM) -> None:
    batch = load_batch(SHIPPED / "batch-friendshoring-rates.toml")
    run = expand(batch)[5]
    scenario = apply_run(batch.scenario, run)
    before = resolve(batch.scenario, sam).shocks.tau
    after = resolve(scenario, sam).shocks.tau
    between = before == 1.3
    assert between.any()
    np.testing.assert_array_equal(after[between], 1.5)  # tau = 1 + swept rate
    np.testing.assert_array_equal(after[~between], before[~between])
    assert batch.scenario.shocks[0].rate == 0.3, "the loaded scenario is left as it was"
    assert load_scenario(FRIENDSHORING) == batch.scenario


def test_multipliers_scale_every_sector_of_the_data(sam: GlobalSAM) -> None:
    batch = load_batch(SHIPPED / "sensitivity-friendshoring.toml")
    for run in expand(batch):
        resolved = resolve(apply_run(batch.scenario, run), sam)
        np.testing.assert_allclose(resolved.sam.esubd, sam.esubd * run.multipliers["esubd"])
        np.testing.assert_allclose(resolved.sam.esubm, sam.esubm * run.multipliers["esubm"])
        np.testing.assert_array_equal(resolved.sam.esubva, sam.esubva)


def test_swept_scale_and_draws_multiply(tmp_path: Path, sam: GlobalSAM) -> None:
    text = HEAD + (
        '[sweep]\n"elasticities.esubm.scale" = [2.0, 3.0]\n'
        '[uncertainty]\nmethod = "quadrature"\n[uncertainty.esubm]\n' + UNIFORM
    )
    runs = expand(load_batch(write(tmp_path, text)))
    assert len(runs) == 4  # two sweep points, each with 2N = 2 points
    for run in runs:
        scenario = apply_run(load_scenario(FRIENDSHORING), run)
        scale = run.overrides["elasticities.esubm.scale"] * run.multipliers["esubm"]
        np.testing.assert_allclose(resolve(scenario, sam).sam.esubm, sam.esubm * scale)


def test_tariff_and_quota_sweeps(tmp_path: Path, sam: GlobalSAM) -> None:
    scenario = tmp_path / "controls.toml"
    scenario.write_text(
        '[scenario]\ndata = "wiod2011_10x8"\n'
        '[[shock]]\ninstrument = "tariff"\nfrom = "USA"\nto = "CHN"\nrate = 0.1\n'
        '[[shock]]\ninstrument = "export_quota"\nfrom = "JPN"\nto = "KOR"\n'
        'sectors = "CHM"\nvalue = 0.5\n',
        encoding="utf-8",
    )
    text = (
        '[batch]\nscenario = "controls.toml"\n'
        '[sweep]\nzip = true\n"shock.1.rate" = [0.2, -0.5]\n"shock.2.value" = [0.0, 0.8]\n'
    )
    batch = load_batch(write(tmp_path, text))
    usa, chn = sam.regions.index("USA"), sam.regions.index("CHN")
    jpn, kor = sam.regions.index("JPN"), sam.regions.index("KOR")
    chm = sam.sectors.index("CHM")
    for run in expand(batch):
        shocks = resolve(apply_run(batch.scenario, run), sam).shocks
        np.testing.assert_allclose(
            shocks.tm[:, usa, chn], sam.tm0[:, usa, chn] + run.overrides["shock.1.rate"]
        )
        value = run.overrides["shock.2.value"]
        if value == 0:  # a zero quota is a ban
            assert shocks.trade_open[chm, jpn, kor] == 0.0
        else:
            assert shocks.quota[chm, jpn, kor] == value


def test_a_run_keeps_its_id_whichever_batch_names_it(tmp_path: Path) -> None:
    shipped = expand(load_batch(SHIPPED / "batch-friendshoring-rates.toml"))
    single = expand(load_batch(write(tmp_path, HEAD + '[sweep]\n"shock.1.rate" = [0.3]\n')))
    assert single[0].id == shipped[3].id


def test_zip_pairs_values_and_bare_dotted_keys_work(tmp_path: Path) -> None:
    text = (
        HEAD + "[sweep]\nzip = true\nshock.1.rate = [0.1, 0.2]\nelasticities.esubp = [0.5, 1.0]\n"
    )
    runs = expand(load_batch(write(tmp_path, text)))
    assert [run.overrides for run in runs] == [
        {"shock.1.rate": 0.1, "elasticities.esubp": 0.5},
        {"shock.1.rate": 0.2, "elasticities.esubp": 1.0},
    ]
    outer = text.replace("zip = true\n", "")
    assert len(expand(load_batch(write(tmp_path, outer)))) == 4


def test_monte_carlo_runs_are_reproducible_from_the_seed(tmp_path: Path) -> None:
    text = HEAD + "[uncertainty]\ndraws = 5\nseed = 3\n[uncertainty.esubd]\n" + UNIFORM
    runs = expand(load_batch(write(tmp_path, text)))
    assert len(runs) == 5 and all(run.weight == 0.2 for run in runs)
    assert all(0.5 <= run.multipliers["esubd"] <= 1.5 for run in runs)
    assert [r.id for r in expand(load_batch(write(tmp_path, text)))] == [r.id for r in runs]
    other = expand(load_batch(write(tmp_path, text.replace("seed = 3", "seed = 4"))))
    assert not {r.id for r in other} & {r.id for r in runs}


# Validation


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (HEAD + "[sweeps]\n", ["unknown table 'sweeps'", "[sweep]", "[uncertainty]"]),
        (HEAD + 'title = "x"\n[sweep]\n"shock.1.rate" = [0.1]\n', ["unknown key 'title'"]),
        ('[batch]\nname = "x"\n[sweep]\n', ["missing key scenario"]),
        ('[batch]\nscenario = "nope.toml"\n', ["[batch] scenario", "no scenario file"]),
        (HEAD, ["needs a [sweep] table, an [uncertainty] table or both"]),
        (
            HEAD + '[sweep]\n"shock.2.rate" = [0.1]\n',
            ["unknown sweep key 'shock.2.rate'", "friendshoring.toml", "shock.1.rate"],
        ),
        (HEAD + '[sweep]\n"shock.1.rate" = 0.1\n', ["expected a non-empty list"]),
        (HEAD + '[sweep]\n"shock.1.rate" = [-1.0]\n', ["rate = -1 must be > -1"]),
        (HEAD + '[sweep]\n"elasticities.esubm.scale" = [0.0]\n', ["scale = 0 must be > 0"]),
        (HEAD + '[sweep]\n"shock.1.rate" = [0.1, 0.1]\n', ["listed twice"]),
        (
            HEAD + '[sweep]\nzip = true\n"shock.1.rate" = [0.1, 0.2]\n'
            '"elasticities.esubm.scale" = [1.0]\n',
            ["equal lengths", "shock.1.rate has 2", "elasticities.esubm.scale has 1"],
        ),
        (
            HEAD + '[uncertainty]\nmethod = "sobol"\n[uncertainty.esubm]\n' + UNIFORM,
            ["unknown method 'sobol'", "montecarlo, quadrature"],
        ),
        (
            HEAD + "[uncertainty]\ndraws = 0\n[uncertainty.esubm]\n" + UNIFORM,
            ["[uncertainty] draws", "draws = 0 must be >= 1"],
        ),
        (
            HEAD
            + '[uncertainty]\nmethod = "quadrature"\ndraws = 9\n[uncertainty.esubm]\n'
            + UNIFORM,
            ['draws is for method = "montecarlo"'],
        ),
        (HEAD + "[uncertainty]\ndraws = 9\n", ["no uncertain parameter"]),
        (
            HEAD + "[uncertainty]\ndraws = 9\n[uncertainty.esubx]\n" + UNIFORM,
            ["unknown uncertain parameter 'esubx'", "esubm"],
        ),
        (
            HEAD + '[uncertainty]\ndraws = 9\n[uncertainty.esubm]\ndistribution = "beta"\n',
            ["[uncertainty.esubm] distribution", "unknown distribution 'beta'", "triangular"],
        ),
        (
            HEAD + "[uncertainty]\ndraws = 9\n[uncertainty.esubm]\n"
            'distribution = "uniform"\nlower = 1.5\nupper = 0.5\n',
            ["[uncertainty.esubm] lower", "0 < lower < upper", "lower = 1.5, upper = 0.5"],
        ),
        (
            HEAD + "[uncertainty]\ndraws = 9\n[uncertainty.esubm]\n" + UNIFORM + "mode = 1.0\n",
            ["unknown key 'mode'", "distribution, lower, scope, upper"],
        ),
        (
            HEAD + "[uncertainty]\ndraws = 9\n[uncertainty.esubm]\n" + UNIFORM + 'scope = "x"\n',
            ["unknown scope 'x'", "allowed: scale"],
        ),
        (
            HEAD + "[uncertainty]\ndraws = 9\n[uncertainty.esubm]\n"
            'distribution = "triangular"\nlower = 0.5\nupper = 1.5\nmode = 2.0\n',
            ["mode = 2 must lie between lower and upper"],
        ),
        (
            HEAD + "[uncertainty]\ndraws = 9\n[uncertainty.esubm]\n"
            'distribution = "normal"\nlower = 0.5\nupper = 1.5\nmean = 1.0\n',
            ["missing key sd"],
        ),
    ],
)
def test_bad_batch_is_refused_with_file_and_key(
    tmp_path: Path, text: str, expected: list[str]
) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_batch(write(tmp_path, text))
    message = str(caught.value)
    assert "study.toml" in message
    for part in expected:
        assert part in message, message


# Designs


def test_stroud_points_for_three_parameters() -> None:
    c, s = math.sqrt(2) / 2, math.sqrt(6) / 2  # √2·cos(π/3) and √2·sin(π/3)
    expected = [
        [c, s, -1],
        [-c, s, 1],
        [-math.sqrt(2), 0, -1],
        [-c, -s, 1],
        [c, -s, -1],
        [math.sqrt(2), 0, 1],
    ]
    np.testing.assert_allclose(stroud_points(3), expected, atol=1e-15)


@pytest.mark.parametrize("n", range(1, 7))
def test_quadrature_reproduces_means_variances_and_zero_covariances(n: int) -> None:
    specs = [(0.5 + 0.1 * k, 1.2 + 0.3 * k) for k in range(n)]
    distributions, means, variances = [], [], []
    for k, (a, b) in enumerate(specs):
        if k % 2:
            mode = a + 0.25 * (b - a)
            distributions.append(Distribution("triangular", a, b, mode=mode))
            mean, var = triangular_moments(a, mode, b)
        else:
            distributions.append(Distribution("uniform", a, b))
            mean, var = uniform_moments(a, b)
        means.append(mean)
        variances.append(var)
    points, weights = quadrature(distributions)
    assert points.shape == (2 * n, n)
    np.testing.assert_allclose(weights, 1 / (2 * n))
    mean = weights @ points
    centred = points - mean
    np.testing.assert_allclose(mean, means, rtol=1e-14)
    np.testing.assert_allclose(
        (weights[:, None] * centred).T @ centred, np.diag(variances), atol=1e-14
    )


def test_quadrature_agrees_with_a_large_monte_carlo() -> None:
    distributions = [
        Distribution("uniform", 0.5, 1.5),
        Distribution("triangular", 0.5, 1.5, mode=0.8),
    ]

    def welfare(x: np.ndarray) -> np.ndarray:
        """A smooth nonlinear response, as EV is of the elasticities."""
        return np.log(x[:, 0]) * np.sqrt(x[:, 1]) - 0.2 / x[:, 1]

    points, weights = quadrature(distributions)
    exact = summarise(welfare(points), weights)
    draws = 20_000
    sampled = summarise(welfare(monte_carlo(distributions, draws, seed=7)[0]))
    assert abs(exact.mean - sampled.mean) < 3 * sampled.sd / math.sqrt(draws)
    assert abs(exact.sd - sampled.sd) < 3 * sampled.sd / math.sqrt(2 * draws)


def test_truncated_normal_draws_and_moments() -> None:
    normal = Distribution("normal", 0.5, 1.5, mean=0.9, sd=0.4)
    grid = np.linspace(0.5, 1.5, 200_001)
    density = np.exp(-(((grid - 0.9) / 0.4) ** 2) / 2)
    density /= np.trapezoid(density, grid)
    mean = np.trapezoid(grid * density, grid)
    var = np.trapezoid((grid - mean) ** 2 * density, grid)
    np.testing.assert_allclose(normal.moments(), (mean, var), rtol=1e-8)
    draws = normal.sample(np.random.default_rng(11), 50_000)
    assert draws.min() >= 0.5 and draws.max() <= 1.5
    assert abs(draws.mean() - mean) < 3 * math.sqrt(var / draws.size)
    np.testing.assert_array_equal(draws, normal.sample(np.random.default_rng(11), 50_000))


# Summaries


def test_summary_of_monte_carlo_values() -> None:
    summary = summarise([3.0, 1.0, 5.0, 2.0, 4.0])
    assert summary.mean == 3.0
    assert summary.sd == pytest.approx(math.sqrt(2.5))  # Σ(x - 3)² / (5 - 1)
    assert summary.p5 == pytest.approx(1.2)  # 0.05 × 4 = 0.2 of the way from 1 to 2
    assert summary.p95 == pytest.approx(4.8)


def test_summary_of_weighted_values() -> None:
    # Sorted values 0, 10, 20, 30 sit at cumulative-weight midpoints 0.01, 0.26, 0.74, 0.99.
    summary = summarise([20.0, 0.0, 30.0, 10.0], [24, 1, 1, 24])
    assert summary.mean == pytest.approx(15.0)
    assert summary.sd == pytest.approx(math.sqrt(33.0))  # 2 × (0.02 × 225 + 0.48 × 25)
    assert summary.p5 == pytest.approx(1.6)  # 10 × (0.05 - 0.01) / 0.25
    assert summary.p95 == pytest.approx(28.4)  # 20 + 10 × (0.95 - 0.74) / 0.25


@pytest.mark.parametrize("draws", [1_000_000_000, 3_000_000])
def test_a_batch_too_large_is_refused_before_its_runs_are_built(tmp_path: Path, draws) -> None:
    path = tmp_path / "big.toml"
    path.write_text(f"{HEAD}\n[uncertainty]\ndraws = {draws}\n\n[uncertainty.esubm]\n{UNIFORM}")
    with pytest.raises(ScenarioError) as raised:
        load_batch(path)
    message = str(raised.value)
    assert f"big.toml:5: [uncertainty] draws: 1 sweep point(s) × {draws:,} draws" in message
    assert f"their list alone needs ~{draws * 600 / 2**30:.1f} GiB" in message
    assert "limit 100,000 runs" in message


def test_a_sweep_too_large_is_refused_before_its_points_are_built(tmp_path: Path) -> None:
    values = ", ".join(str(0.01 * k) for k in range(1, 401))
    path = tmp_path / "big.toml"
    path.write_text(
        f'{HEAD}\n[sweep]\n"shock.1.rate" = [{values}]\n"elasticities.esubm.scale" = [{values}]\n'
    )
    with pytest.raises(ScenarioError, match=r"big.toml:4: \[sweep\]: 160,000 runs"):
        load_batch(path)
