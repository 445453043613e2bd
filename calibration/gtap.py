"""GTAP databases in: a GTAPAgg/FlexAgg output folder read into a GlobalSAM.

The folder holds ``basedata.har`` (flows), ``sets.har`` (sets) and ``default.prm``
(elasticities), in the GTAP 7+ header layout (``VDFB``, ``VXSB``, ``MAKB``…) or the older
GTAP 6 one (``VDFA``, ``VXMD``, ``VFM``…). Both are first read into one common form, the
flows at basic (market) and at purchasers' (agents') prices, and then mapped onto the
dataset contract: the flows at the agents' prices, tax rates as the ratio of the two.

GTAP data are stored in single precision, so its identities hold to about 1e-7, while the
model's benchmark replication needs them to 1e-8. The importer therefore checks each
identity against the source tolerance and then closes it exactly, in the account that
GTAP derives anyway: margin supply ``vst`` is scaled to world margin use, agents' imports
to the imports by source, and the output tax rate is what makes sales equal cost. How far
any of these moved is stated in the notes.
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from fragcge.calibration import accounts
from fragcge.calibration.importers import Imported, Importer
from fragcge.calibration.sam import FINAL_AGENTS, GlobalSAM
from fragcge.calibration.schema import FINAL_ELASTICITIES
from fragcge.errors import DatasetError

BASEDATA = "basedata.har"
SETS = "sets.har"
PARAMETERS = "default.prm"
SOURCE_RTOL = 1e-5
"""Largest gap, relative to its account, allowed in one of GTAP's own identities."""
SOURCE_FLOOR = 1e-7
"""Accounts below this share of the largest output get the tolerance of one that size."""

V7_FLOWS = (
    "VDFB VDFP VMFB VMFP VDPB VDPP VMPB VMPP VDGB VDGP VMGB VMGP VDIB VDIP VMIB VMIP "
    "EVFB EVFP EVOS VXSB VFOB VCIF VMSB VST VTWR SAVE VDEP MAKB MAKS"
).split()
V6_FLOWS = (
    "VDFA VDFM VIFA VIFM VDPA VDPM VIPA VIPM VDGA VDGM VIGA VIGM VXMD VXWD VIWS VIMS "
    "VST VTWR EVOA EVFA VFM SAVE VDEP"
).split()
V7_SETS = ("REG", "COMM", "ACTS", "MARG", "ENDW", "ENDS", "ENDM")
INVESTMENT_GOOD = "CGDS"
"""GTAP 6's investment 'sector', a column of the firms' purchases."""


@dataclass
class _Basedata:
    """A GTAP database in one form for both layouts.

    Purchases over ``g`` = the sectors, then hh, gov, inv (the GlobalSAM's agent axis);
    ``basic`` values are what GTAP 7 calls basic and GTAP 6 market prices, ``agent`` values
    include the purchase (or factor) tax. Routes are [i, exporter, importer].
    """

    layout: str
    regions: tuple[str, ...]
    sectors: tuple[str, ...]
    endowments: tuple[str, ...]
    mobile: tuple[str, ...]
    margins: tuple[str, ...]
    dom_basic: np.ndarray
    dom_agent: np.ndarray
    imp_basic: np.ndarray
    imp_agent: np.ndarray
    fac_basic: np.ndarray
    fac_agent: np.ndarray
    exports: np.ndarray  # vxsb / vxmd
    fob: np.ndarray
    cif: np.ndarray
    imports: np.ndarray  # vmsb / vims
    vst: np.ndarray
    vtwr: np.ndarray
    save: np.ndarray
    vdep: np.ndarray
    output: np.ndarray | None = None  # [j, r] at basic prices, incl. output tax (MAKB)
    output_net: np.ndarray | None = None  # [j, r] at supply prices (MAKS)
    notes: list[str] = field(default_factory=list)


class _HarFile:
    """One HAR file's headers, checked as they are taken: present, sets, shape, sign."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = path.name
        harpy = _harpy()
        if not path.is_file():
            raise DatasetError(f"{path}: missing; a GTAP database folder needs {_FILES}")
        try:
            with warnings.catch_warnings():
                # harpy 0.3 builds its string arrays with numpy's deprecated chararray.
                warnings.simplefilter("ignore", DeprecationWarning)
                har = harpy.HarFileObj.loadFromDisk(str(path))
            self.headers = {h["name"].strip().upper(): h for h in har.getHeaderArrayObjs()}
        except Exception as error:  # harpy raises bare Exceptions on malformed files
            raise DatasetError(f"{path}: cannot be read as a HAR file ({error})") from error

    def has(self, name: str) -> bool:
        """Whether the file holds header ``name``."""
        return name in self.headers

    def elements(self, name: str) -> tuple[str, ...]:
        """A set header (a list of codes), e.g. REG of sets.har."""
        header = self._header(name)
        array = header["array"]
        if array.dtype.kind not in "US" or array.ndim != 1:
            raise DatasetError(f"{self.name}, header {name}: expected a list of set elements")
        return tuple(str(e).strip() for e in array)

    def labels(self, name: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """The set name and elements along each axis of a real header."""
        header = self._header(name)
        sets = header.get("sets") or []
        return tuple(
            (s["name"].strip().upper(), tuple(str(e).strip() for e in (s["dim_desc"] or ())))
            for s in sets
        )

    def array(
        self,
        name: str,
        axes: tuple[str, ...],
        sets: dict[str, tuple[str, ...]],
        *,
        flow: bool = True,
    ) -> np.ndarray:
        """Header ``name`` as float64 over ``axes`` (set names), checked against ``sets``."""
        header = self._header(name)
        where = f"{self.name}, header {name}"
        values = np.asarray(header["array"])
        if values.dtype.kind not in "fi":
            raise DatasetError(f"{where}: expected real numbers, found {values.dtype}")
        values = values.astype(float)
        expected = tuple(len(sets[a]) for a in axes)
        labels = self.labels(name)
        if values.shape != expected:
            raise DatasetError(
                f"{where}: dimensions {values.shape}, expected {expected} over ({', '.join(axes)})"
            )
        for k, (axis, (label, elements)) in enumerate(zip(axes, labels, strict=False)):
            if label != axis:
                raise DatasetError(f"{where}: axis {k + 1} is set {label}, expected {axis}")
            if elements and elements != sets[axis]:
                unknown = [e for e in elements if e not in sets[axis]]
                detail = (
                    f"unknown element(s) {', '.join(unknown)}"
                    if unknown
                    else "the elements in another order"
                )
                raise DatasetError(
                    f"{where}: axis {k + 1} ({axis}) has {detail}; {axis} is "
                    f"{', '.join(sets[axis])}"
                )
        bad = ~np.isfinite(values)
        if flow:
            bad |= values < 0
        if bad.any():
            cells = [
                f"{name}[{', '.join(sets[a][i] for a, i in zip(axes, index, strict=True))}] "
                f"= {values[index]:.6g}"
                for index in zip(*np.nonzero(bad), strict=True)
            ]
            rule = "a flow must be finite and >= 0" if flow else "values must be finite"
            raise DatasetError(f"{where}: {rule}; {'; '.join(cells[:5])}")
        return values

    def _header(self, name: str) -> dict:
        if name not in self.headers:
            raise DatasetError(
                f"{self.path}: header {name} missing (headers found: "
                f"{', '.join(sorted(self.headers)) or 'none'})"
            )
        return self.headers[name]


_FILES = f"{BASEDATA}, {SETS} and {PARAMETERS}"


def _harpy():
    try:
        import harpy
    except ImportError as error:
        raise DatasetError(
            "reading GTAP HAR files needs the harpy3 package: pip install 'fragcge[gtap]'"
        ) from error
    return harpy


def read_gtap(source: Path, rtol: float = SOURCE_RTOL) -> tuple[GlobalSAM, tuple[str, ...]]:
    """The GTAP database in folder ``source`` as a GlobalSAM, with notes for its README.

    Raises DatasetError naming the file and header at fault; reads nothing but the folder.
    """
    source = Path(source)
    if not source.is_dir():
        raise DatasetError(f"{source}: not a folder; a GTAP database folder holds {_FILES}")
    basedata = _HarFile(source / BASEDATA)
    parameters = _HarFile(source / PARAMETERS)
    if basedata.has("VDFB"):
        layout, headers = "7", V7_FLOWS
    elif basedata.has("VDFA"):
        layout, headers = "6", V6_FLOWS
    else:
        raise DatasetError(
            f"{basedata.path}: neither the GTAP 7+ layout (header VDFB) nor the GTAP 6 layout "
            f"(header VDFA); headers found: {', '.join(sorted(basedata.headers)) or 'none'}"
        )
    missing = [h for h in headers if not basedata.has(h)]
    if missing:
        raise DatasetError(
            f"{basedata.path}: header(s) {', '.join(missing)} missing (GTAP {layout} layout)"
        )
    if layout == "7":
        data = _read_v7(basedata, _HarFile(source / SETS))
    else:
        data = _read_v6(basedata, parameters)
    sam = _sam(data, rtol)
    sam = _with_elasticities(sam, data, parameters)
    _check_savings(sam, data, rtol)
    return sam, tuple(data.notes)


def _read_v7(har: _HarFile, set_file: _HarFile) -> _Basedata:
    sets = {name: set_file.elements(name) for name in V7_SETS}
    acts, comm = sets["ACTS"], sets["COMM"]
    notes: list[str] = []
    makb = har.array("MAKB", ("COMM", "ACTS", "REG"), sets)
    maks = har.array("MAKS", ("COMM", "ACTS", "REG"), sets)
    _require_diagonal_make(har, makb, sets)
    position = [acts.index(c) for c in comm]
    notes.append(
        "MAKB: one commodity per activity (diagonal make matrix), so activity and commodity "
        "are one sector, coded as COMM."
    )

    def firms(name: str) -> np.ndarray:
        # Columns of the firms' purchases come by activity; reorder to the commodity order.
        return har.array(name, ("COMM", "ACTS", "REG"), sets)[:, position, :]

    def purchases(parts: tuple[str, str, str, str]) -> np.ndarray:
        firm, hh, gov, inv = parts
        final = [har.array(h, ("COMM", "REG"), sets)[:, None, :] for h in (hh, gov, inv)]
        return np.concatenate([firms(firm), *final], axis=1)

    endw, ends, endm = sets["ENDW"], set(sets["ENDS"]), set(sets["ENDM"])
    outside = sorted((ends | endm) - set(endw))
    if outside:
        raise DatasetError(f"{set_file.name}, headers ENDS/ENDM: {', '.join(outside)} not in ENDW")
    evfb = har.array("EVFB", ("ENDW", "ACTS", "REG"), sets)[:, position, :]
    evos = har.array("EVOS", ("ENDW", "ACTS", "REG"), sets)[:, position, :]
    if not np.allclose(evos, evfb):
        notes.append(
            "EVOS: income taxes on factor earnings (EVFB − EVOS, "
            f"{(evfb - evos).sum():.6g} in all) stay in the regions' income, as in GTAP; "
            "the model has no separate income tax."
        )
    notes += _mobility_note(endw, [e for e in endw if e in endm], ends)
    trade = ("COMM", "REG", "REG")
    data = _Basedata(
        layout="7",
        regions=sets["REG"],
        sectors=comm,
        endowments=endw,
        mobile=tuple(e for e in endw if e in endm),
        margins=sets["MARG"],
        dom_basic=purchases(("VDFB", "VDPB", "VDGB", "VDIB")),
        dom_agent=purchases(("VDFP", "VDPP", "VDGP", "VDIP")),
        imp_basic=purchases(("VMFB", "VMPB", "VMGB", "VMIB")),
        imp_agent=purchases(("VMFP", "VMPP", "VMGP", "VMIP")),
        fac_basic=evfb,
        fac_agent=har.array("EVFP", ("ENDW", "ACTS", "REG"), sets)[:, position, :],
        exports=har.array("VXSB", trade, sets),
        fob=har.array("VFOB", trade, sets, flow=False),
        cif=har.array("VCIF", trade, sets),
        imports=har.array("VMSB", trade, sets),
        vst=har.array("VST", ("MARG", "REG"), sets),
        vtwr=har.array("VTWR", ("MARG", "COMM", "REG", "REG"), sets),
        save=har.array("SAVE", ("REG",), sets, flow=False),
        vdep=har.array("VDEP", ("REG",), sets),
        output=makb.sum(axis=1),
        output_net=maks.sum(axis=1),
        notes=notes,
    )
    _check_margins_are_commodities(har, data)
    return data


def _require_diagonal_make(har: _HarFile, makb: np.ndarray, sets: dict) -> None:
    """Refuse multi-product activities: the model has one commodity per sector."""
    comm, acts = sets["COMM"], sets["ACTS"]
    if sorted(comm) != sorted(acts):
        raise DatasetError(
            f"{har.name}, header MAKB: ACTS ({', '.join(acts)}) and COMM ({', '.join(comm)}) "
            "differ; the model needs one activity per commodity, with the same codes"
        )
    position = [acts.index(c) for c in comm]
    diagonal = np.zeros_like(makb, dtype=bool)
    diagonal[np.arange(len(comm)), position, :] = True
    off = (makb != 0) & ~diagonal
    if off.any():
        cells = [
            f"MAKB[{comm[i]}, {acts[a]}, {sets['REG'][r]}] = {makb[i, a, r]:.6g}"
            for i, a, r in zip(*np.nonzero(off), strict=True)
        ]
        raise DatasetError(
            f"{har.name}, header MAKB: {len(cells)} multi-product cell(s) (an activity making "
            f"another commodity); the model has one commodity per sector and needs a diagonal "
            f"make matrix (aggregate such activities first); {'; '.join(cells[:5])}"
        )


def _read_v6(har: _HarFile, parameters: _HarFile) -> _Basedata:
    labels = dict(har.labels("VDFA")) | dict(har.labels("VFM")) | dict(har.labels("VTWR"))
    needed = ("TRAD_COMM", "PROD_COMM", "REG", "ENDW_COMM", "MARG_COMM")
    missing = [s for s in needed if s not in labels]
    if missing:
        raise DatasetError(
            f"{har.name}, headers VDFA, VFM, VTWR: set label(s) {', '.join(missing)} missing"
        )
    sets = {s: labels[s] for s in needed}
    trad, prod = sets["TRAD_COMM"], sets["PROD_COMM"]
    cgds = [p for p in prod if p.upper() == INVESTMENT_GOOD]
    if not cgds or [p for p in prod if p not in cgds] != list(trad):
        raise DatasetError(
            f"{har.name}, header VDFA: PROD_COMM must be TRAD_COMM followed by "
            f"{INVESTMENT_GOOD}; found {', '.join(prod)}"
        )
    inv = prod.index(cgds[0])
    firm_cols = [prod.index(c) for c in trad]

    def purchases(parts: tuple[str, str, str]) -> np.ndarray:
        firm, hh, gov = parts
        firms = har.array(firm, ("TRAD_COMM", "PROD_COMM", "REG"), sets)
        final = [har.array(h, ("TRAD_COMM", "REG"), sets)[:, None, :] for h in (hh, gov)]
        return np.concatenate([firms[:, firm_cols, :], *final, firms[:, [inv], :]], axis=1)

    vfm = har.array("VFM", ("ENDW_COMM", "PROD_COMM", "REG"), sets)
    evfa = har.array("EVFA", ("ENDW_COMM", "PROD_COMM", "REG"), sets)
    if vfm[:, inv, :].any() or evfa[:, inv, :].any():
        raise DatasetError(
            f"{har.name}, headers VFM/EVFA: the investment good {cgds[0]} uses primary "
            "factors; the model's investment demand buys commodities only"
        )
    evoa = har.array("EVOA", ("ENDW_COMM", "REG"), sets)
    endw = sets["ENDW_COMM"]
    if not parameters.has("ETRE"):
        raise DatasetError(
            f"{parameters.path}: header ETRE missing; its set (ENDWS_COMM) says which "
            "endowments are sluggish"
        )
    sluggish = dict(parameters.labels("ETRE")).get("ENDWS_COMM", ())
    unknown = [e for e in sluggish if e not in endw]
    if unknown:
        raise DatasetError(
            f"{parameters.name}, header ETRE: ENDWS_COMM element(s) {', '.join(unknown)} "
            f"not in ENDW_COMM ({', '.join(endw)})"
        )
    notes = _mobility_note(endw, [e for e in endw if e not in sluggish], set(sluggish))
    notes.append(
        f"GTAP 6 layout: investment is the firms' column {cgds[0]} of VDFA/VIFA; "
        "market prices (VDFM, VXMD…) are the basic prices, agents' prices include taxes."
    )
    data = _Basedata(
        layout="6",
        regions=sets["REG"],
        sectors=trad,
        endowments=endw,
        mobile=tuple(e for e in endw if e not in sluggish),
        margins=sets["MARG_COMM"],
        dom_basic=purchases(("VDFM", "VDPM", "VDGM")),
        dom_agent=purchases(("VDFA", "VDPA", "VDGA")),
        imp_basic=purchases(("VIFM", "VIPM", "VIGM")),
        imp_agent=purchases(("VIFA", "VIPA", "VIGA")),
        fac_basic=vfm[:, firm_cols, :],
        fac_agent=evfa[:, firm_cols, :],
        exports=har.array("VXMD", ("TRAD_COMM", "REG", "REG"), sets),
        fob=har.array("VXWD", ("TRAD_COMM", "REG", "REG"), sets),
        cif=har.array("VIWS", ("TRAD_COMM", "REG", "REG"), sets),
        imports=har.array("VIMS", ("TRAD_COMM", "REG", "REG"), sets),
        vst=har.array("VST", ("MARG_COMM", "REG"), sets),
        vtwr=har.array("VTWR", ("MARG_COMM", "TRAD_COMM", "REG", "REG"), sets),
        save=har.array("SAVE", ("REG",), sets, flow=False),
        vdep=har.array("VDEP", ("REG",), sets),
        notes=notes,
    )
    _check_margins_are_commodities(har, data)
    _check_gap(
        f"{har.name}, header EVOA (= Σ_j VFM)",
        evoa,
        vfm.sum(axis=1),
        SOURCE_RTOL,
        lambda k: f"{endw[k[0]]}, {data.regions[k[1]]}",
    )
    return data


def _mobility_note(endw: tuple[str, ...], mobile: list[str], sluggish: set[str]) -> list[str]:
    specific = [e for e in endw if e not in mobile]
    note = f"Endowments: {', '.join(mobile) or 'none'} mobile across sectors"
    if specific:
        note += (
            f"; {', '.join(specific)} specific to the sector using them (GTAP "
            f"{'sluggish' if set(specific) <= sluggish else 'sluggish or fixed'}: the model "
            "has no finite transformation elasticity, ETRE, so sluggish factors do not move)"
        )
    return [note + "."]


def _check_margins_are_commodities(har: _HarFile, data: _Basedata) -> None:
    unknown = [m for m in data.margins if m not in data.sectors]
    if unknown:
        raise DatasetError(
            f"{har.name}, header VTWR: margin(s) {', '.join(unknown)} are not commodities"
        )


def _check_gap(
    what: str,
    left: np.ndarray,
    right: np.ndarray,
    rtol: float,
    where: Callable[[tuple[int, ...]], str],
    floor: float = 0.0,
) -> None:
    """Raise a DatasetError where GTAP's own identity ``left = right`` fails."""
    gap = left - right
    account = np.maximum(np.maximum(np.abs(left), np.abs(right)), floor)
    bad = np.abs(gap) > rtol * account
    if bad.any():
        cells = [
            f"{where(k)}: {left[k]:.8g} vs {right[k]:.8g}"
            for k in zip(*np.nonzero(bad), strict=True)
        ]
        raise DatasetError(
            f"{what} does not hold to {rtol:g} of the account in {len(cells)} place(s): "
            f"{'; '.join(cells[:5])}"
        )


def _rate(agent: np.ndarray, basic: np.ndarray, what: str) -> np.ndarray:
    """Tax rate agent/basic − 1 where there is a base; a tax without a base is refused."""
    orphan = (basic == 0) & (agent != 0)
    if orphan.any():
        count = int(orphan.sum())
        raise DatasetError(f"{what}: {count} cell(s) pay tax at agents' prices on a zero base")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(basic > 0, agent / np.where(basic > 0, basic, 1.0) - 1.0, 0.0)


def _sam(data: _Basedata, rtol: float) -> GlobalSAM:
    """The contract's flows and rates, with GTAP's identities checked and then closed."""
    file = f"{BASEDATA} ({'GTAP ' + data.layout} layout)"
    regions, sectors = data.regions, data.sectors
    n = len(sectors)
    own = np.einsum("irr->ir", data.exports)
    if own.any():
        # Composite regions trade within themselves; aggregate_sam makes that trade
        # domestic (exactly, keeping every account) when the import pipeline runs.
        data.notes.append(
            f"Trade of a region with itself ({'VXSB' if data.layout == '7' else 'VXMD'} "
            f"diagonal, {int((own > 0).sum())} cell(s), {own.sum():.6g} in all at basic "
            "prices): made domestic purchases of the buyers, its export taxes, tariffs and "
            "margins as in aggregation (see docs/data.md, Aggregation)."
        )
    scale = max(float(data.exports.sum(axis=(1, 2)).max(initial=0.0)), 1.0)
    floor = SOURCE_FLOOR * max(float(data.dom_basic.sum(axis=1).max(initial=0.0)), scale)
    route = lambda k: f"{sectors[k[0]]}, {regions[k[1]]} → {regions[k[2]]}"  # noqa: E731
    in_region = lambda k: f"{sectors[k[0]]}, {regions[k[1]]}"  # noqa: E731
    names = {"7": ("VFOB", "VCIF", "VMSB", "VST"), "6": ("VXWD", "VIWS", "VIMS", "VST")}
    fob_h, cif_h, ims_h, vst_h = names[data.layout]
    tx0 = _rate(data.fob, data.exports, f"{file}, header {fob_h}")
    cif = data.fob + data.vtwr.sum(axis=0)
    _check_gap(f"{file}, header {cif_h} (= fob + Σ_m VTWR)", data.cif, cif, rtol, route, floor)
    tm0 = _rate(data.imports, cif, f"{file}, header {ims_h}")

    margin_index = np.array([sectors.index(m) for m in data.margins], dtype=int)
    use = data.vtwr.sum(axis=(1, 2, 3))
    supply = data.vst.sum(axis=1)
    _check_gap(
        f"{file}, header {vst_h} (world margin supply = Σ VTWR)",
        supply,
        use,
        rtol,
        lambda k: data.margins[k[0]],
        floor,
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        vst = data.vst * np.where(supply > 0, use / np.where(supply > 0, supply, 1.0), 0.0)[:, None]

    imported = data.imp_basic.sum(axis=1)
    by_source = data.imports.sum(axis=1)
    _check_gap(
        f"{file}, import market (Σ_s imports = agents' imports at basic prices)",
        by_source,
        imported,
        rtol,
        in_region,
        floor,
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        fit = np.where(imported > 0, by_source / np.where(imported > 0, imported, 1.0), 1.0)
    tif0 = _rate(data.imp_agent, data.imp_basic, f"{file}, imported purchases")
    vifm = data.imp_agent * fit[:, None, :]
    tdf0 = _rate(data.dom_agent, data.dom_basic, f"{file}, domestic purchases")
    tf0 = _rate(data.fac_agent, data.fac_basic, f"{file}, factor payments")

    sales = data.dom_basic.sum(axis=1) + data.exports.sum(axis=2)
    sales[margin_index, :] += vst
    cost = data.fac_agent.sum(axis=0) + (data.dom_agent[:, :n] + vifm[:, :n]).sum(axis=0)
    if data.output is not None:
        _check_gap(f"{file}, header MAKB (output = sales)", data.output, sales, rtol, in_region)
        _check_gap(f"{file}, header MAKS (output = cost)", data.output_net, cost, rtol, in_region)
    with np.errstate(divide="ignore", invalid="ignore"):
        to0 = np.where(sales > 0, 1.0 - cost / np.where(sales > 0, sales, 1.0), 0.0)
    data.notes.append(
        "Closed to machine precision after checking GTAP's identities to "
        f"{rtol:g}: largest change of margin supply VST {np.max(np.abs(vst - data.vst)):.3g}, "
        f"of imported purchases {np.max(np.abs(vifm - data.imp_agent)):.3g}; output tax "
        "rates are (sales − cost)/sales."
    )
    kind = {e: "mobile" if e in data.mobile else "specific" for e in data.endowments}
    zeros = np.zeros(n)
    return GlobalSAM(
        name="gtap",
        regions=regions,
        sectors=sectors,
        factors=data.endowments,
        factor_kind=kind,
        margins=tuple(m for m in sectors if m in data.margins),
        vfm=data.fac_agent,
        vdfm=data.dom_agent,
        vifm=vifm,
        vxmd=data.exports,
        vtwr=data.vtwr[np.argsort([sectors.index(m) for m in data.margins])],
        vst=vst[np.argsort([sectors.index(m) for m in data.margins])],
        to0=to0,
        tf0=tf0,
        tdf0=tdf0,
        tif0=tif0,
        tx0=tx0,
        tm0=tm0,
        esubd=zeros,
        esubm=zeros,
        esubva=zeros,
        esubt=zeros,
        esubc=zeros,
        meta={
            "title": f"GTAP database ({data.layout == '7' and 'GTAP 7+' or 'GTAP 6'} layout), "
            f"{len(regions)} regions x {n} commodities",
            "unit": "USD million",
            "source": f"GTAP: {BASEDATA}, {SETS}, {PARAMETERS}",
            "licence": "GTAP Data Base licence (see the database's documentation)",
            "citation": "Aguiar et al., The GTAP Data Base, Journal of Global Economic Analysis",
        },
    )


def _check_savings(sam: GlobalSAM, data: _Basedata, rtol: float) -> None:
    """GTAP's regional accounts: net transfers vb = investment − depreciation − saving."""
    investment = accounts.final_demand(sam)[FINAL_AGENTS.index("inv")]
    expected = investment - data.vdep - data.save
    scale = np.maximum(accounts.expenditure(sam), 1e-300)
    gap = accounts.vb(sam) - expected
    bad = np.abs(gap) > max(rtol, 1e-6) * scale
    if bad.any():
        cells = [
            f"{sam.regions[r]}: income − expenditure gives {accounts.vb(sam)[r]:.8g}, "
            f"investment − VDEP − SAVE gives {expected[r]:.8g}"
            for r in np.nonzero(bad)[0]
        ]
        raise DatasetError(
            f"{BASEDATA}, headers SAVE/VDEP: regional accounts do not close "
            f"({'; '.join(cells[:5])})"
        )
    data.notes.append(
        "SAVE, VDEP: investment demand is gross investment (VDIP + VMIP, or the CGDS "
        "column); saving and depreciation enter as the net transfer vb = investment − VDEP "
        "− SAVE of each region (checked, then derived from the flows, which the model holds "
        "fixed in the default closure)."
    )


def _with_elasticities(sam: GlobalSAM, data: _Basedata, prm: _HarFile) -> GlobalSAM:
    """ESBD → esubd, ESBM → esubm, ESBV → esubva, ESBT/ESBC → esubt/esubc, ESBG/ESBI."""
    v7 = data.layout == "7"
    comm, acts = ("COMM", "ACTS") if v7 else ("TRAD_COMM", "PROD_COMM")
    sectors, regions = sam.sectors, sam.regions
    n = len(sectors)
    # The bases of elasticity_weights.WEIGHT_BASIS, region by region.
    weights = {
        "ESBD": (sam.vdfm + sam.vifm).sum(axis=1),
        "ESBM": accounts.vim(sam),
        "ESBV": sam.vfm.sum(axis=0),
        "ESBT": accounts.vom(sam),
        "ESBC": accounts.vom(sam),
    }
    found: dict[str, np.ndarray] = {}
    regional: list[str] = []
    for name, axis in (("ESBD", comm), ("ESBM", comm), ("ESBV", acts), ("ESBT", acts)) + (
        (("ESBC", acts),) if v7 else ()
    ):
        if not prm.has(name):
            continue
        values = _sector_parameter(prm, name, axis, sectors, regions)
        if values.ndim == 2:
            if not np.allclose(values, values[:, :1]):
                regional.append(name)
            w = weights[name]
            total = w.sum(axis=1)
            mean = values.mean(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                values = np.where(total > 0, (values * w).sum(axis=1) / total, mean)
        found[name] = values
    if "ESBD" not in found or "ESBV" not in found:
        lacking = [h for h in ("ESBD", "ESBV") if h not in found]
        raise DatasetError(f"{prm.path}: header(s) {', '.join(lacking)} missing")
    notes = data.notes
    if regional:
        notes.append(
            f"{', '.join(regional)} differ by region; the model has one value per sector: "
            "each is the mean over regions weighted as GTAPAgg weights sectors (ESBD by "
            "domestic + imported use at agents' prices, ESBM by imports, ESBV by value added, "
            "ESBT/ESBC by gross output)."
        )
    esubm = found.get("ESBM")
    if esubm is None:
        esubm = 2.0 * found["ESBD"]
        notes.append(f"{PARAMETERS}: no ESBM; esubm = 2 × esubd (GTAP's rule of two).")
    defaults = [h for h in ("ESBT", "ESBC") if h not in found]
    if defaults:
        notes.append(
            f"{PARAMETERS}: no {', '.join(defaults)}; "
            f"{', '.join(h.replace('ESB', 'esub').lower() for h in defaults)} = 0 (Leontief, "
            "GTAP's standard production structure)."
        )
    final = dict(FINAL_ELASTICITIES)
    for name, key, agent in (("ESBG", "esubg", "gov"), ("ESBI", "esubi", "inv")):
        if prm.has(name):
            values = prm.array(name, ("REG",), {"REG": regions}, flow=False)
            weight = accounts.final_demand(sam)[FINAL_AGENTS.index(agent)]
            final[key] = float(
                (values * weight).sum() / weight.sum() if weight.sum() > 0 else values.mean()
            )
        else:
            notes.append(f"{PARAMETERS}: no {name}; {key} = {final[key]:g} (the model's default).")
    final["esubp"] = 1.0
    cde = [h for h in ("SUBP", "INCP") if prm.has(h)]
    notes.append(
        "Private demand: GTAP's CDE system"
        + (f" ({', '.join(cde)} in {PARAMETERS})" if cde else "")
        + " cannot be represented; the household has a Cobb-Douglas demand (esubp = 1) with "
        "the benchmark budget shares, so income elasticities are 1 and own-price elasticities "
        "−1 instead of GTAP's calibrated ones."
    )
    for name, values in found.items():
        bad = ~np.isfinite(values) | (values < 0)
        if bad.any():
            raise DatasetError(
                f"{prm.name}, header {name}: elasticities must be finite and >= 0; "
                + "; ".join(f"{sectors[k]} = {values[k]}" for k in np.nonzero(bad)[0][:5])
            )
    zeros = np.zeros(n)
    return replace(
        sam,
        esubd=found["ESBD"],
        esubm=esubm,
        esubva=found["ESBV"],
        esubt=found.get("ESBT", zeros),
        esubc=found.get("ESBC", zeros),
        **final,
    )


def _sector_parameter(
    prm: _HarFile, name: str, axis: str, sectors: tuple[str, ...], regions: tuple[str, ...]
) -> np.ndarray:
    """A parameter over ``axis`` (or ``axis`` × REG) in the sectors' order.

    GTAP 6's PROD_COMM also lists CGDS: its value is dropped (investment has no
    production function here).
    """
    labels = prm.labels(name)
    elements = labels[0][1] if labels else ()
    kept = [e for e in elements if e.upper() != INVESTMENT_GOOD]
    unknown = [e for e in kept if e not in sectors]
    missing = [s for s in sectors if s not in kept]
    if unknown or missing or len(labels) not in (1, 2):
        raise DatasetError(
            f"{prm.name}, header {name}: expected one value per {axis} element "
            f"({', '.join(sectors)}), optionally by REG; "
            + (f"unknown element(s) {', '.join(unknown)}" if unknown else "")
            + (f"missing {', '.join(missing)}" if missing else "")
        )
    axes = (axis,) if len(labels) == 1 else (axis, "REG")
    values = prm.array(name, axes, {axis: elements, "REG": regions}, flow=False)
    return values[[elements.index(s) for s in sectors]]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--rtol``: how far GTAP's own identities may be off before the import is refused."""
    parser.add_argument(
        "--rtol",
        type=float,
        default=SOURCE_RTOL,
        help=f"largest gap in GTAP's identities, relative to the account (default {SOURCE_RTOL:g})",
    )


def read(source: Path, options: argparse.Namespace) -> Imported:
    """The GTAP database in folder ``source``, for the import pipeline."""
    sam, notes = read_gtap(source, getattr(options, "rtol", SOURCE_RTOL))
    return Imported(sam=sam, notes=notes)


IMPORTER = Importer(
    kind="gtap",
    summary="a GTAP database: GTAPAgg/FlexAgg folder of basedata.har, sets.har, default.prm "
    "(GTAP 7+ or GTAP 6 headers)",
    add_arguments=add_arguments,
    read=read,
)
