"""Batch figures: the plotted numbers against hand-built sweep, summary and runs tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection, PathCollection, PolyCollection

from fragcge.reports.batch_figures import batch_figures, ev_distribution, ev_sweep

KEY = "shock.1.rate"
RATES = [0.3, 0.1, 0.5, 0.2, 0.4]
"""Deliberately unsorted: the figure must sort them."""
LINES = {"USA": (1.0, -2.0), "CHN": (-0.5, 3.0), "NA": (0.2, 0.5), "east": (0.0, 1.5)}
LINES |= {"WORLD": (0.25, -1.0)}
"""EV % = a + b × rate, per region; "NA" is a region name, not a missing value."""
BLOCS = {"USA": "west", "CHN": "east", "NA": "", "east": "east", "WORLD": "WORLD"}


def sweep_table() -> pd.DataFrame:
    rows = []
    for rate in RATES:
        for region, (a, b) in LINES.items():
            pct = a + b * rate
            rows.append({KEY: rate, "region": region, "bloc": BLOCS[region], "ev": 1e3 * pct})
            rows[-1]["ev_pct"] = pct
    return pd.DataFrame(rows)


def summary_table() -> pd.DataFrame:
    rows = []
    for rate in RATES:
        for region, (a, b) in LINES.items():
            row = {KEY: rate, "region": region, "bloc": BLOCS[region], "runs": 8}
            for measure, scale in (("ev", 1e3), ("ev_pct", 1.0)):
                mean = scale * (a + b * rate)
                row |= {f"{measure}_mean": mean, f"{measure}_sd": 0.1 * scale}
                row |= {f"{measure}_p5": mean - scale * (1 + rate)}
                row |= {f"{measure}_p95": mean + scale * (2 + rate * rate)}
            rows.append(row)
    return pd.DataFrame(rows)


WEIGHTS = [1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 4.0]
"""Unnormalised and unequal, so the weighting and the normalisation both show."""
VALUES = {
    "USA": [0.5, -1.0, 2.0, 3.0, 0.0, 1.0, -0.5],
    "CHN": [-3.0, -2.5, -1.0, -4.0, -2.0, -1.5, 0.5],
    "WORLD": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7],
}


def runs_table() -> pd.DataFrame:
    rows = []
    for k, w in enumerate(WEIGHTS):
        for region, values in VALUES.items():
            pct = values[k]
            row = {"id": f"q{k}", "weight": w, "region": region, "bloc": BLOCS[region]}
            rows.append(row | {"ev": 1e3 * pct, "ev_pct": pct})
    return pd.DataFrame(rows)


def midpoint_percentile(values: list[float], weights: list[float], q: float) -> float:
    """The documented rule, written out: sorted values at the midpoints of their cumulative
    weight, linear in between, the smallest and largest value beyond the first and last."""
    pairs = sorted(zip(values, weights, strict=True))
    total = sum(weights)
    xs, centres, below = [], [], 0.0
    for v, w in pairs:
        xs.append(v)
        centres.append((below + w / 2) / total)
        below += w
    if q <= centres[0]:
        return xs[0]
    for i in range(1, len(xs)):
        if q <= centres[i]:
            t = (q - centres[i - 1]) / (centres[i] - centres[i - 1])
            return xs[i - 1] + t * (xs[i] - xs[i - 1])
    return xs[-1]


def visible(fig) -> list:
    return [ax for ax in fig.axes if ax.get_visible()]


def test_sweep_plots_each_region_sorted_by_the_key() -> None:
    fig = ev_sweep(sweep_table(), KEY)
    axes = visible(fig)
    assert [ax.get_title() for ax in axes] == list(LINES)
    x = np.sort(RATES)
    for ax, (a, b) in zip(axes, LINES.values(), strict=True):
        np.testing.assert_allclose(ax.lines[0].get_xydata(), np.column_stack([x, a + b * x]))
    # Five panels wrap onto two rows; every column's lowest panel carries the key's label.
    assert len({ax.get_position().y0 for ax in axes}) == 2
    assert [ax.get_xlabel() for ax in axes] == ["", KEY, KEY, KEY, KEY]
    assert "% of baseline income" in axes[0].get_ylabel()


def test_sweep_in_usd_million() -> None:
    axes = visible(ev_sweep(sweep_table(), KEY, measure="ev"))
    a, b = LINES["CHN"]
    x = np.sort(RATES)
    np.testing.assert_allclose(axes[1].lines[0].get_xydata()[:, 1], 1e3 * (a + b * x))
    assert "USD million" in axes[0].get_ylabel()


def test_summary_gives_mean_line_and_percentile_band() -> None:
    fig = ev_sweep(summary_table(), KEY)
    x = np.sort(RATES)
    for ax, (a, b) in zip(visible(fig), LINES.values(), strict=True):
        mean = a + b * x
        np.testing.assert_allclose(ax.lines[0].get_xydata(), np.column_stack([x, mean]))
        (band,) = [c for c in ax.collections if isinstance(c, PolyCollection)]
        vertices = {tuple(np.round(v, 9)) for p in band.get_paths() for v in p.vertices}
        edges = np.r_[np.column_stack([x, mean - 1 - x]), np.column_stack([x, mean + 2 + x * x])]
        assert vertices == {tuple(np.round(v, 9)) for v in edges}
    assert "5th–95th percentile" in [t.get_text() for t in fig.legends[0].get_texts()]


def test_text_keys_are_categories_in_order_of_appearance() -> None:
    table = sweep_table()
    names = {0.3: "medium", 0.1: "low", 0.5: "extreme", 0.2: "mild", 0.4: "high"}
    table[KEY] = table[KEY].map(names)
    axes = visible(ev_sweep(table, KEY))
    a, b = LINES["USA"]
    np.testing.assert_allclose(axes[0].lines[0].get_xydata()[:, 0], range(5))
    np.testing.assert_allclose(axes[0].lines[0].get_xydata()[:, 1], [a + b * r for r in RATES])
    labels = [t.get_text() for t in axes[-1].get_xticklabels()]
    assert labels == ["medium", "low", "extreme", "mild", "high"]


def test_a_grid_sweep_draws_one_line_per_other_key_value() -> None:
    table = pd.concat([sweep_table().assign(tau=t) for t in (1, 2)], ignore_index=True)
    table.loc[table.tau == 2, "ev_pct"] += 10
    ax = visible(ev_sweep(table, KEY))[0]
    a, b = LINES["USA"]
    np.testing.assert_allclose(ax.lines[0].get_xydata()[:, 1], a + b * np.sort(RATES))
    np.testing.assert_allclose(ax.lines[1].get_xydata()[:, 1], 10 + a + b * np.sort(RATES))


@pytest.mark.parametrize(
    ("table", "key", "column"),
    [
        (sweep_table(), "shock.2.rate", "shock.2.rate"),
        (sweep_table().drop(columns="ev_pct"), KEY, "ev_pct"),
        (sweep_table().drop(columns="region"), KEY, "region"),
        (summary_table().drop(columns="ev_pct_p95"), KEY, "ev_pct_p95"),
    ],
)
def test_sweep_names_a_missing_column(table, key, column) -> None:
    with pytest.raises(ValueError, match=column):
        ev_sweep(table, key)


def test_distribution_weighted_mean_and_percentiles() -> None:
    fig = ev_distribution(runs_table())
    (ax,) = visible(fig)
    assert [t.get_text() for t in ax.get_yticklabels()] == list(VALUES)
    means = ax.lines[0].get_xydata()
    np.testing.assert_allclose(means[:, 1], range(len(VALUES)))
    (bars,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    (dots,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    offsets = dots.get_offsets()
    for y, values in enumerate(VALUES.values()):
        assert means[y, 0] == pytest.approx(np.average(values, weights=WEIGHTS))
        (x0, y0), (x1, y1) = bars.get_segments()[y]
        assert y0 == y1 == y
        assert x0 == pytest.approx(midpoint_percentile(values, WEIGHTS, 0.05))
        assert x1 == pytest.approx(midpoint_percentile(values, WEIGHTS, 0.95))
        mine = offsets[np.abs(offsets[:, 1] - y) <= 0.25]
        np.testing.assert_allclose(mine[:, 0], values)
    # USA's 95th percentile falls between two runs, WORLD's beyond the last midpoint.
    assert bars.get_segments()[0][1][0] == pytest.approx(2 + (0.95 - 27 / 32) / (4 / 32))
    assert bars.get_segments()[2][1][0] == pytest.approx(0.7)
    again = visible(ev_distribution(runs_table()))[0].collections
    np.testing.assert_array_equal(again[0].get_offsets(), offsets)


def test_distribution_needs_one_sweep_point() -> None:
    runs = runs_table().assign(**{KEY: 0.1})
    ev_distribution(runs)
    runs.loc[runs.id == "q3", KEY] = 0.2
    with pytest.raises(ValueError, match="several sweep points"):
        ev_distribution(runs)
    with pytest.raises(ValueError, match="weight"):
        ev_distribution(runs_table().drop(columns="weight"))


def test_batch_figures_rerun_byte_identical(tmp_path) -> None:
    sweep, uncertain = tmp_path / "sweep", tmp_path / "uncertain"
    sweep.mkdir()
    uncertain.mkdir()
    sweep_table().to_csv(sweep / "sweep.csv", index=False)
    runs_table().to_csv(uncertain / "runs.csv", index=False)
    for folder, keys, stem in ((sweep, [KEY], "ev_sweep"), (uncertain, [], "ev_distribution")):
        first = batch_figures(folder, keys, uncertainty=not keys)
        assert first == [folder / f"{stem}.png", folder / f"{stem}.pdf"]
        before = [p.read_bytes() for p in first]
        assert batch_figures(folder, keys, uncertainty=not keys) == first
        assert [p.read_bytes() for p in first] == before
        assert before[0][:4] == b"\x89PNG" and before[1][:4] == b"%PDF"


def test_batch_figures_uncertain_sweep_draws_only_the_bands(tmp_path) -> None:
    summary_table().to_csv(tmp_path / "summary.csv", index=False)
    runs_table().assign(**{KEY: 0.1}).to_csv(tmp_path / "runs.csv", index=False)
    files = batch_figures(tmp_path, [KEY], uncertainty=True)
    assert [p.name for p in files] == ["ev_sweep.png", "ev_sweep.pdf"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["summary.csv", "runs.csv", "ev_sweep.png", "ev_sweep.pdf"]
    )


def test_batch_figures_write_nothing_when_every_run_failed(tmp_path) -> None:
    sweep_table().head(0).to_csv(tmp_path / "sweep.csv", index=False)
    summary_table().head(0).to_csv(tmp_path / "summary.csv", index=False)
    runs_table().head(0).to_csv(tmp_path / "runs.csv", index=False)
    assert batch_figures(tmp_path, [KEY], uncertainty=False) == []
    assert batch_figures(tmp_path, [KEY], uncertainty=True) == []
    assert batch_figures(tmp_path, [], uncertainty=True) == []
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".csv"] * 3
