"""GTAP databases written for tests: a GlobalSAM's flows spelt as GTAP headers, into HAR files.

Independent of fragcge.calibration.gtap: the headers are built here from GTAP's own
definitions (basic vs purchasers' prices, fob = basic × (1 + export tax), …).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import harpy
import numpy as np

from fragcge.calibration.sam import GlobalSAM

INCOME_TAX = 0.05
"""Share of factor earnings paid as income tax (EVOS = (1 − INCOME_TAX) · EVFB)."""
DEPRECIATION = 0.1
"""VDEP as a share of gross investment."""


def _sets(*axes: tuple[str, tuple[str, ...]]) -> list[dict]:
    return [{"name": n, "status": "k", "dim_type": "Set", "dim_desc": list(e)} for n, e in axes]


def header(name: str, array: np.ndarray, axes: tuple[tuple[str, tuple[str, ...]], ...]):
    """A real header of single-precision values, labelled by set."""
    return harpy.HeaderArrayObj.HeaderArrayFromData(
        name, np.asarray(array, dtype=np.float32), long_name=name, sets=_sets(*axes)
    )


def set_header(name: str, elements: tuple[str, ...]):
    """A set header: its elements as a character list."""
    return harpy.HeaderArrayObj.HeaderArrayFromData(
        name, np.array(list(elements) or [""], dtype="<U12"), long_name=f"set {name}"
    )


def write_har(path: Path, headers: dict) -> None:
    """Write ``headers`` (name → HeaderArrayObj) as one HAR file."""
    har = harpy.HarFileObj()
    har.addHeaderArrayObjs(list(headers.values()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # harpy 0.3 uses np.chararray
        har.writeToDisk(str(path))


def gtap7_headers(sam: GlobalSAM) -> tuple[dict, dict, dict]:
    """(basedata, sets, parameters) headers of ``sam`` in the GTAP 7+ layout."""
    reg, comm = sam.regions, sam.sectors
    endw, marg = sam.factors, sam.margins
    n = len(comm)
    R, C, A, E, M = (("REG", reg), ("COMM", comm), ("ACTS", comm), ("ENDW", endw), ("MARG", marg))
    dom_b, imp_b = sam.vdfm / (1 + sam.tdf0), sam.vifm / (1 + sam.tif0)
    data = {}
    for kind, agent, basic in (("D", sam.vdfm, dom_b), ("M", sam.vifm, imp_b)):
        data[f"V{kind}FB"] = header(f"V{kind}FB", basic[:, :n], (C, A, R))
        data[f"V{kind}FP"] = header(f"V{kind}FP", agent[:, :n], (C, A, R))
        for k, who in enumerate("PGI"):
            data[f"V{kind}{who}B"] = header(f"V{kind}{who}B", basic[:, n + k], (C, R))
            data[f"V{kind}{who}P"] = header(f"V{kind}{who}P", agent[:, n + k], (C, R))
    evfb = sam.vfm / (1 + sam.tf0)
    data["EVFB"] = header("EVFB", evfb, (E, A, R))
    data["EVFP"] = header("EVFP", sam.vfm, (E, A, R))
    data["EVOS"] = header("EVOS", (1 - INCOME_TAX) * evfb, (E, A, R))
    fob = sam.vxmd * (1 + sam.tx0)
    cif = fob + sam.vtwr.sum(axis=0)
    data["VXSB"] = header("VXSB", sam.vxmd, (C, R, R))
    data["VFOB"] = header("VFOB", fob, (C, R, R))
    data["VCIF"] = header("VCIF", cif, (C, R, R))
    data["VMSB"] = header("VMSB", cif * (1 + sam.tm0), (C, R, R))
    data["VST"] = header("VST", sam.vst, (M, R))
    data["VTWR"] = header("VTWR", sam.vtwr, (M, C, R, R))
    cost = sam.vfm.sum(axis=0) + (sam.vdfm + sam.vifm)[:, :n].sum(axis=0)
    make = np.zeros((n, n, len(reg)))
    make[np.arange(n), np.arange(n)] = cost
    data["MAKS"] = header("MAKS", make, (C, A, R))
    make[np.arange(n), np.arange(n)] = cost / (1 - sam.to0)
    data["MAKB"] = header("MAKB", make, (C, A, R))
    save, vdep = savings(sam)
    data["SAVE"] = header("SAVE", save, (R,))
    data["VDEP"] = header("VDEP", vdep, (R,))
    sets = {name: set_header(name, codes) for name, codes in (R, C, A, M, E)}
    sets["ENDM"] = set_header("ENDM", sam.mobile)
    sets["ENDS"] = set_header("ENDS", sam.specific)
    regional = np.ones(len(reg))
    prm = {
        "ESBD": header("ESBD", np.outer(sam.esubd, regional), (C, R)),
        "ESBM": header("ESBM", np.outer(sam.esubm, regional), (C, R)),
        "ESBV": header("ESBV", np.outer(sam.esubva, regional), (A, R)),
        "ESBT": header("ESBT", np.outer(sam.esubt, regional), (A, R)),
        "ESBC": header("ESBC", np.outer(sam.esubc, regional), (A, R)),
        "ESBG": header("ESBG", sam.esubg * regional, (R,)),
        "ESBI": header("ESBI", sam.esubi * regional, (R,)),
        "SUBP": header("SUBP", np.full((n, len(reg)), 0.5), (C, R)),
        "INCP": header("INCP", np.full((n, len(reg)), 1.0), (C, R)),
    }
    return data, sets, prm


def gtap6_headers(sam: GlobalSAM) -> tuple[dict, dict, dict]:
    """(basedata, sets, parameters) headers of ``sam`` in the GTAP 6 layout."""
    reg, trad = sam.regions, sam.sectors
    n = len(trad)
    prod = (*trad, "cgds")
    R, T, P = ("REG", reg), ("TRAD_COMM", trad), ("PROD_COMM", prod)
    E, M = ("ENDW_COMM", sam.factors), ("MARG_COMM", sam.margins)
    dom_m, imp_m = sam.vdfm / (1 + sam.tdf0), sam.vifm / (1 + sam.tif0)
    inv = n + 2
    data = {}
    for kind, agent, market in (("D", sam.vdfm, dom_m), ("I", sam.vifm, imp_m)):
        for price, values in (("M", market), ("A", agent)):
            firms = np.concatenate([values[:, :n], values[:, [inv]]], axis=1)  # … and cgds
            data[f"V{kind}F{price}"] = header(f"V{kind}F{price}", firms, (T, P, R))
            data[f"V{kind}P{price}"] = header(f"V{kind}P{price}", values[:, n], (T, R))
            data[f"V{kind}G{price}"] = header(f"V{kind}G{price}", values[:, n + 1], (T, R))
    vfm = np.concatenate([sam.vfm / (1 + sam.tf0), np.zeros((len(sam.factors), 1, len(reg)))], 1)
    evfa = np.concatenate([sam.vfm, np.zeros((len(sam.factors), 1, len(reg)))], axis=1)
    data["VFM"] = header("VFM", vfm, (E, P, R))
    data["EVFA"] = header("EVFA", evfa, (E, P, R))
    data["EVOA"] = header("EVOA", vfm.sum(axis=1), (E, R))
    fob = sam.vxmd * (1 + sam.tx0)
    cif = fob + sam.vtwr.sum(axis=0)
    data["VXMD"] = header("VXMD", sam.vxmd, (T, R, R))
    data["VXWD"] = header("VXWD", fob, (T, R, R))
    data["VIWS"] = header("VIWS", cif, (T, R, R))
    data["VIMS"] = header("VIMS", cif * (1 + sam.tm0), (T, R, R))
    data["VST"] = header("VST", sam.vst, (M, R))
    data["VTWR"] = header("VTWR", sam.vtwr, (M, T, R, R))
    save, vdep = savings(sam, income_tax=0.0)
    data["SAVE"] = header("SAVE", save, (R,))
    data["VDEP"] = header("VDEP", vdep, (R,))
    sets = {"H1": set_header("H1", reg), "H2": set_header("H2", trad)}
    prm = {
        "ESBD": header("ESBD", sam.esubd, (T,)),
        "ESBM": header("ESBM", sam.esubm, (T,)),
        "ESBV": header("ESBV", np.append(sam.esubva, 0.0), (P,)),
        "ESBT": header("ESBT", np.append(sam.esubt, 0.0), (P,)),
        "ETRE": header("ETRE", np.full(len(sam.specific), -1.0), (("ENDWS_COMM", sam.specific),)),
    }
    return data, sets, prm


def savings(sam: GlobalSAM, income_tax: float = INCOME_TAX) -> tuple[np.ndarray, np.ndarray]:
    """GTAP's SAVE and VDEP: income (net of depreciation) minus private and government spending.

    GTAP's regional income is EVOS − VDEP plus every tax, the income tax included, so it is
    factor earnings at basic prices plus the indirect taxes, minus depreciation.
    """
    n = len(sam.sectors)
    final = (sam.vdfm + sam.vifm)[:, n:].sum(axis=0)  # [hh, gov, inv] x r
    dom_b, imp_b = sam.vdfm / (1 + sam.tdf0), sam.vifm / (1 + sam.tif0)
    evfb = sam.vfm / (1 + sam.tf0)
    cost = sam.vfm.sum(axis=0) + (sam.vdfm + sam.vifm)[:, :n].sum(axis=0)
    fob = sam.vxmd * (1 + sam.tx0)
    cif = fob + sam.vtwr.sum(axis=0)
    taxes = (
        (cost / (1 - sam.to0) - cost).sum(axis=0)
        + (sam.vfm - evfb).sum(axis=(0, 1))
        + (sam.vdfm - dom_b + sam.vifm - imp_b).sum(axis=(0, 1))
        + (fob - sam.vxmd).sum(axis=(0, 2))  # export taxes go to the exporter
        + (cif * sam.tm0).sum(axis=(0, 1))  # tariffs to the importer
    )
    vdep = DEPRECIATION * final[2]
    # EVOS plus the income tax on it: the earnings at basic prices, whatever the tax rate.
    earnings = (1 - income_tax) * evfb.sum(axis=(0, 1)) + income_tax * evfb.sum(axis=(0, 1))
    income = earnings - vdep + taxes
    return income - final[0] - final[1], vdep


def write_gtap(folder: Path, headers: tuple[dict, dict, dict]) -> Path:
    """basedata.har, sets.har and default.prm in ``folder``; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, part in zip(("basedata.har", "sets.har", "default.prm"), headers, strict=True):
        write_har(folder / name, part)
    return folder


def merge_regions(headers: tuple[dict, dict, dict], into: str, members: tuple[str, ...]):
    """The database with ``members`` summed into one region ``into``, the way GTAPAgg sums.

    Their trade with each other lands on the diagonal (a region trading with itself).
    Parameters by region must be equal across the members; the first member's is kept.
    """
    data, sets, prm = headers
    regions = tuple(str(e).strip() for e in sets["REG"]["array"])
    merged = tuple(r for r in regions if r not in members[1:])
    merged = tuple(into if r == members[0] else r for r in merged)
    to = np.zeros((len(merged), len(regions)))
    for k, r in enumerate(regions):
        to[merged.index(into if r in members else r), k] = 1.0

    def merge(h, keep_first: bool):
        array = np.asarray(h["array"], dtype=float)
        axes = []
        for k, s in enumerate(h["sets"]):
            if s["name"].strip() == "REG":
                matrix = to if not keep_first else (to.cumsum(axis=1) == 1) * to
                array = np.moveaxis(np.tensordot(matrix, array, axes=(1, k)), 0, k)
                axes.append(("REG", merged))
            else:
                axes.append((s["name"].strip(), tuple(s["dim_desc"])))
        return header(h["name"].strip(), array, tuple(axes))

    data = {n: merge(h, keep_first=False) for n, h in data.items()}
    prm = {n: merge(h, keep_first=True) for n, h in prm.items()}
    sets = {**sets, "REG": set_header("REG", merged)}
    return data, sets, prm
