"""The gtap importer on small databases written here in both GTAP header layouts.

Each database spells a synthetic benchmark (3 regions x 3 commodities, every tax, a margin
commodity, a specific factor, income taxes, depreciation) as GTAP headers; its import must
replicate (what ``fragcge check`` runs) and keep the HAR file's own totals.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import harpy
import numpy as np
import pytest
from gtap_data import gtap6_headers, gtap7_headers, header, merge_regions, write_gtap

from fragcge.calibration import accounts
from fragcge.calibration.dataset import load_dataset
from fragcge.calibration.gtap import IMPORTER, SOURCE_RTOL, read_gtap
from fragcge.calibration.importers import import_dataset
from fragcge.calibration.synthetic import synthetic_sam
from fragcge.cli import main
from fragcge.errors import DatasetError

RTOL = 2e-6
"""HAR files hold single precision: totals agree to a few units of 1e-7."""

LAYOUTS = {"7": gtap7_headers, "6": gtap6_headers}


@pytest.fixture(scope="module")
def sam():
    return synthetic_sam(3, 3, seed=3)


def import_gtap(source: Path, out: Path, regions: Path | None = None, rtol: float = SOURCE_RTOL):
    """SOURCE → dataset folder OUT through the import pipeline; the loaded, validated dataset."""
    options = argparse.Namespace(rtol=rtol)
    return import_dataset(IMPORTER, source, out, options, regions, None)


def har_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every real header of a HAR file, in double precision (read by harpy, not the importer)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # harpy 0.3 uses np.chararray
        har = harpy.HarFileObj.loadFromDisk(str(path))
    return {
        h["name"].strip(): np.asarray(h["array"], dtype=float)
        for h in har.getHeaderArrayObjs()
        if h["array"].dtype.kind == "f"
    }


def har_totals(folder: Path, layout: str) -> dict[str, np.ndarray]:
    """World output, GDP by region, world trade and tax revenue by kind, from GTAP's headers."""
    h = har_arrays(folder / "basedata.har")
    if layout == "7":
        agents = ("F", "P", "G", "I")
        basic = {k: (h[f"VD{k}B"], h[f"VM{k}B"]) for k in agents}
        paid = {k: (h[f"VD{k}P"], h[f"VM{k}P"]) for k in agents}
        exports, fob, cif, ims = h["VXSB"], h["VFOB"], h["VCIF"], h["VMSB"]
        output = h["MAKB"].sum(axis=(0, 1))
        output_tax = (h["MAKB"] - h["MAKS"]).sum()
        factor_tax = (h["EVFP"] - h["EVFB"]).sum()
        final = sum(paid[k][0].sum(axis=0) + paid[k][1].sum(axis=0) for k in ("P", "G", "I"))
    else:
        agents = ("F", "P", "G")
        basic = {k: (h[f"VD{k}M"], h[f"VI{k}M"]) for k in agents}
        paid = {k: (h[f"VD{k}A"], h[f"VI{k}A"]) for k in agents}
        exports, fob, cif, ims = h["VXMD"], h["VXWD"], h["VIWS"], h["VIMS"]
        domestic_sales = sum(basic[k][0].sum(axis=1 if k == "F" else ()) for k in agents)
        sales = domestic_sales + exports.sum(axis=2)
        sales[-1] += h["VST"][0]  # the margin commodity is the last one
        output = sales.sum(axis=0)
        cost = h["EVFA"].sum(axis=0) + (h["VDFA"] + h["VIFA"]).sum(axis=0)
        output_tax = output.sum() - cost[:-1].sum()  # CGDS (last column) has no output tax
        factor_tax = (h["EVFA"] - h["VFM"]).sum()
        final = sum(paid[k][0].sum(axis=0) + paid[k][1].sum(axis=0) for k in ("P", "G"))
        final = final + (h["VDFA"][:, -1] + h["VIFA"][:, -1]).sum(axis=0)  # CGDS
    purchase_tax = sum(
        (paid[k][0] - basic[k][0]).sum() + (paid[k][1] - basic[k][1]).sum() for k in agents
    )
    gdp = final + fob.sum(axis=(0, 2)) + h["VST"].sum(axis=0) - cif.sum(axis=(0, 1))
    return {
        "world output": np.array([output.sum()]),
        "gdp": gdp,
        "world trade": np.array([cif.sum()]),
        "output tax": np.array([output_tax]),
        "factor tax": np.array([factor_tax]),
        "purchase tax": np.array([purchase_tax]),
        "export tax": np.array([(fob - exports).sum()]),
        "tariff": np.array([(ims - cif).sum()]),
    }


def sam_totals(sam) -> dict[str, np.ndarray]:
    """The same totals from the imported dataset's accounts."""
    net_tax = accounts.net_factor(sam)
    return {
        "world output": np.array([accounts.vom(sam).sum()]),
        "gdp": accounts.income(sam),  # income side: factor earnings + every tax
        "world trade": np.array([accounts.cif(sam).sum()]),
        "output tax": np.array([(sam.to0 * accounts.vom(sam)).sum()]),
        "factor tax": np.array([(sam.vfm - net_tax).sum()]),
        "purchase tax": np.array(
            [(sam.vdfm - accounts.net_domestic(sam) + sam.vifm - accounts.net_imported(sam)).sum()]
        ),
        "export tax": np.array([(sam.tx0 * sam.vxmd).sum()]),
        "tariff": np.array([(sam.tm0 * accounts.cif(sam)).sum()]),
    }


@pytest.mark.parametrize("layout", LAYOUTS)
def test_import_replicates_and_keeps_the_har_totals(sam, layout, tmp_path, capsys):
    source = write_gtap(tmp_path / "gtap", LAYOUTS[layout](sam))
    imported = import_gtap(source, tmp_path / "out")
    readme = (tmp_path / "out" / "README.md").read_text(encoding="utf-8")

    assert main(["check", "--data", str(tmp_path / "out")]) == 0
    assert "FAIL" not in capsys.readouterr().out

    expected, got = har_totals(source, layout), sam_totals(imported)
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], rtol=RTOL, err_msg=name)
    # Every kind of tax is there to be kept.
    assert all(abs(expected[k][0]) > 1e-3 for k in ("output tax", "factor tax", "tariff"))
    assert imported.factor_kind == {"lab": "mobile", "cap": "mobile", "res": "specific"}
    assert imported.margins == sam.margins
    np.testing.assert_allclose(imported.esubd, sam.esubd, rtol=1e-6)
    np.testing.assert_allclose(imported.esubva, sam.esubva, rtol=1e-6)
    assert imported.esubp == 1.0
    assert "Cobb-Douglas" in readme
    assert "res specific" in readme


def test_import_is_reproducible(sam, tmp_path):
    source = write_gtap(tmp_path / "gtap", gtap7_headers(sam))
    for run in ("a", "b"):
        import_gtap(source, tmp_path / run / "out")
    first, second = tmp_path / "a" / "out", tmp_path / "b" / "out"
    files = sorted(p.name for p in first.iterdir())
    assert files == sorted(p.name for p in second.iterdir())
    for name in files:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_trade_within_a_region_becomes_domestic(tmp_path, capsys):
    """A composite region (GTAPAgg's sum of two) trades with itself: the import makes that
    trade domestic and replicates, with the accounts of importing the two regions and
    merging them by a region map (which agent buys which source differs: proportional
    sourcing applies to the composite's imports in one, to each member's in the other)."""
    four = synthetic_sam(4, 3, seed=5)
    headers = gtap7_headers(four)
    merged = write_gtap(tmp_path / "merged", merge_regions(headers, "R3", ("R3", "R4")))
    separate = write_gtap(tmp_path / "separate", headers)
    region_map = tmp_path / "regions.csv"
    region_map.write_text("code,group\nR1,R1\nR2,R2\nR3,R3\nR4,R3\n", encoding="utf-8")

    own = import_gtap(merged, tmp_path / "own")
    mapped = import_gtap(separate, tmp_path / "mapped", regions=region_map)

    assert main(["check", "--data", str(tmp_path / "own")]) == 0
    assert "FAIL" not in capsys.readouterr().out
    assert own.regions == mapped.regions == ("R1", "R2", "R3")
    assert np.einsum("irr->", own.vxmd) == 0
    same = {
        "vfm": (own.vfm, mapped.vfm),
        "vxmd": (own.vxmd, mapped.vxmd),
        "vtwr": (own.vtwr, mapped.vtwr),
        "vst": (own.vst, mapped.vst),
        "vom": (accounts.vom(own), accounts.vom(mapped)),
        "final demand by agent": (accounts.final_demand(own), accounts.final_demand(mapped)),
        "tax revenue": (accounts.tax_revenue(own), accounts.tax_revenue(mapped)),
        "vb": (accounts.vb(own), accounts.vb(mapped)),
    }
    for name, (got, expected) in same.items():
        np.testing.assert_allclose(got, expected, rtol=RTOL, atol=1e-9, err_msg=name)
    assert "with itself" in (tmp_path / "own" / "README.md").read_text(encoding="utf-8")


def test_command_line_import_with_a_region_map(sam, tmp_path, capsys):
    source = write_gtap(tmp_path / "gtap", gtap7_headers(sam))
    region_map = tmp_path / "regions.csv"
    region_map.write_text("code,group\nR1,A\nR2,A\nR3,B\n", encoding="utf-8")
    out = tmp_path / "ab"
    args = ["data", "import", "gtap", str(source), "--out", str(out), "--regions", str(region_map)]
    assert main(args) == 0
    assert main(["check", "--data", str(out)]) == 0
    assert "FAIL" not in capsys.readouterr().out
    world = har_totals(source, "7")
    dataset = sam_totals(load_dataset(out))
    # Merging regions keeps world output, output and factor taxes; the export taxes and
    # tariffs between R1 and R2 become purchase taxes, so only those three sum the same.
    for kind in ("world output", "output tax", "factor tax"):
        np.testing.assert_allclose(dataset[kind], world[kind], rtol=RTOL, err_msg=kind)
    on_goods = ("purchase tax", "export tax", "tariff")
    np.testing.assert_allclose(
        sum(dataset[k] for k in on_goods), sum(world[k] for k in on_goods), rtol=RTOL
    )
    np.testing.assert_allclose(dataset["gdp"].sum(), world["gdp"].sum(), rtol=RTOL)


def test_regional_elasticities_are_weighted_by_value(sam, tmp_path):
    """ESBD by region: the sector's value is the mean weighted by each region's use."""
    data, sets, prm = gtap7_headers(sam)
    esbd = prm["ESBD"]["array"]
    esbd[:] = np.array([1.0, 2.0, 4.0], dtype=np.float32)[None, :]
    imported, notes = read_gtap(write_gtap(tmp_path / "gtap", (data, sets, prm)))
    use = (sam.vdfm + sam.vifm).sum(axis=1)  # [i, r], agents' prices
    expected = (use * np.array([1.0, 2.0, 4.0])).sum(axis=1) / use.sum(axis=1)
    np.testing.assert_allclose(imported.esubd, expected, rtol=1e-6)
    assert any("ESBD differ by region" in n for n in notes)


def _broken(sam, tmp_path: Path, change, layout: str = "7") -> Path:
    headers = LAYOUTS[layout](sam)
    change(*headers)
    return write_gtap(tmp_path / "gtap", headers)


def _relabel(h, axis: int, old: str, new: str) -> None:
    elements = h["sets"][axis]["dim_desc"]
    h["sets"][axis]["dim_desc"] = [new if e == old else e for e in elements]


def _drop(headers: dict, name: str) -> None:
    del headers[name]


def _scale_cell(name: str, index: tuple, factor: float):
    def change(data, sets, prm):
        data[name]["array"][index] *= factor

    return change


def _two_products(data, sets, prm):
    data["MAKB"]["array"][0, 1, 0] = 1.0


def _wrong_shape(data, sets, prm):
    vst = data["VST"]
    data["VST"] = header(
        "VST", np.ones((1, 4)), (("MARG", ("S3",)), ("REG", ("R1", "R2", "R3", "R4")))
    )
    assert vst["array"].shape == (1, 3)


BAD = {
    "missing header": (lambda d, s, p: _drop(d, "VXSB"), ("basedata.har", "VXSB", "missing")),
    "unknown set element": (
        lambda d, s, p: _relabel(d["VDFP"], 1, "S2", "XYZ"),
        ("basedata.har", "VDFP", "XYZ"),
    ),
    "negative flow": (_scale_cell("VXSB", (0, 0, 1), -1.0), ("basedata.har", "VXSB", ">= 0")),
    "mismatched dimensions": (_wrong_shape, ("basedata.har", "VST", "dimensions")),
    "unbalanced imports": (_scale_cell("VCIF", (0, 0, 1), 1.01), ("basedata.har", "VCIF")),
    "unbalanced savings": (_scale_cell("SAVE", (0,), 1.5), ("basedata.har", "SAVE")),
    "multi-product activity": (_two_products, ("basedata.har", "MAKB", "diagonal")),
    "missing set": (lambda d, s, p: _drop(s, "ENDM"), ("sets.har", "ENDM", "missing")),
    "missing elasticity": (lambda d, s, p: _drop(p, "ESBD"), ("default.prm", "ESBD", "missing")),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_named_and_nothing_written(sam, case, tmp_path):
    change, words = BAD[case]
    source = _broken(sam, tmp_path, change)
    with pytest.raises(DatasetError) as error:
        import_gtap(source, tmp_path / "out")
    for word in words:
        assert word in str(error.value)
    assert [p.name for p in tmp_path.iterdir()] == ["gtap"]  # no output, no leftovers


def test_gtap6_bad_input_is_named(sam, tmp_path):
    source = _broken(sam, tmp_path, lambda d, s, p: _drop(d, "VIMS"), layout="6")
    with pytest.raises(DatasetError, match=r"basedata\.har.*VIMS.*missing"):
        import_gtap(source, tmp_path / "out")
    source = _broken(sam, tmp_path, _scale_cell("VXMD", (0, 0, 1), -1.0), layout="6")
    with pytest.raises(DatasetError, match=r"basedata\.har, header VXMD: a flow must be"):
        import_gtap(source, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_small_gaps_are_closed_within_rtol(sam, tmp_path, capsys):
    """World margin supply 0.5% above use: refused at the default tolerance; accepted with
    --rtol 0.01, margin supply scaled to use, and the benchmark replicates."""
    source = _broken(sam, tmp_path, _scale_cell("VST", (0, slice(None)), 1.005))
    with pytest.raises(DatasetError, match=r"VST \(world margin supply"):
        import_gtap(source, tmp_path / "strict")
    data = har_arrays(source / "basedata.har")
    gap = data["VST"].sum() - data["VTWR"].sum()
    assert gap > 0.001 * data["VTWR"].sum()
    imported = import_gtap(source, tmp_path / "out", rtol=0.01)
    np.testing.assert_allclose(imported.vst.sum(), data["VTWR"].sum(), rtol=1e-12)
    assert main(["check", "--data", str(tmp_path / "out")]) == 0
    assert "FAIL" not in capsys.readouterr().out


def test_missing_harpy_is_named(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "harpy", None)  # import harpy now raises ImportError
    with pytest.raises(DatasetError, match=r"harpy3.*fragcge\[gtap\]"):
        read_gtap(tmp_path)


def test_gtap6_without_sluggish_endowment_set_is_refused(sam, tmp_path):
    source = _broken(sam, tmp_path, lambda d, s, p: _drop(p, "ETRE"), layout="6")
    with pytest.raises(DatasetError, match=r"default\.prm.*ETRE"):
        read_gtap(source)


def test_not_a_gtap_folder(tmp_path):
    with pytest.raises(DatasetError, match="basedata.har"):
        read_gtap(tmp_path)


EXAMPLES = Path(__file__).parent.parent / "docs" / "examples"


def test_shipped_doc_examples_are_what_make_examples_writes(tmp_path: Path) -> None:
    """docs/data.md's worked examples run on files shipped in docs/examples; the script
    there must rewrite them byte for byte (issue 9: they were neither shipped nor made)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_examples", EXAMPLES / "make_examples.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    written = module.write_examples(tmp_path)
    names = {p.relative_to(tmp_path).as_posix() for p in written}
    assert names == {
        "icio/2020.csv",
        *(
            f"{db}/{f}"
            for db in ("gtap3", "bad")
            for f in ("basedata.har", "sets.har", "default.prm")
        ),
    }
    for path in written:
        shipped = EXAMPLES / path.relative_to(tmp_path)
        assert shipped.read_bytes() == path.read_bytes(), shipped
        assert shipped.stat().st_size < 100_000


def test_shipped_gtap_examples_import_and_refuse_as_the_doc_shows(tmp_path: Path, capsys) -> None:
    out = tmp_path / "gtap3x3"
    assert main(["data", "import", "gtap", str(EXAMPLES / "gtap3"), "--out", str(out)]) == 0
    sam = load_dataset(out)
    assert (len(sam.regions), len(sam.sectors)) == (3, 3)
    assert main(["check", "--data", str(out)]) == 0
    capsys.readouterr()
    bad = tmp_path / "badout"
    assert main(["data", "import", "gtap", str(EXAMPLES / "bad"), "--out", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "header MAKB: 1 multi-product cell(s)" in err and "MAKB[S1, S2, R1] = 2.5" in err
    assert not bad.exists()
