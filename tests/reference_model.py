"""A second, independent implementation of MODEL.md's equations, to check the model's solutions.

Written from the specification (the project's original model design, MODEL.md) only: it shares
no code with ``fragcge.model`` (not the equation blocks, not the term templates, not the
calibration's shares). It takes the GlobalSAM, a ShockSet and the values of MODEL.md's variables
as dense arrays, recomputes every unit-cost function and every nested demand by the calibrated
share form, and returns the residual of every equation block, scaled by the benchmark value of
its account. Loops over regions and agents are deliberate: clarity over speed, the datasets
checked are small.

Variables (dense, over their full index space): ``Y[j,r]``, ``py[i,r]``, ``pm[i,r]``,
``M[i,r]``, ``pf[f,r]`` (mobile factors), ``ps[f,j,r]`` (specific factors), ``C[r]``,
``pc[r]``, ``pg[r]``, ``pinv[r]``, ``YT[m]``, ``pt[m]`` (by position among the margins),
``RA[r]`` (income in value). ``G`` and ``I`` are parameters fixed at 1 (default closure)
and the numeraire is the default Laspeyres index of mobile-factor prices, so ``pnum = 1``.
From the ShockSet come the route parameters, the transfers, the productivity ``A[j,r]``
(SCENARIOS.md: zero profit ``(1−to)·py·A = cY``, supply ``vom·A·Y``, output tax base
``to·py·vom·A·Y``; the inputs per unit of activity ``Y`` do not depend on ``A``) and the
endowment multipliers ``endow[f,r]``, ``endow_s[f,j,r]`` of the factor supplies.
Output, factor and purchase tax rates are not scenario parameters of a ShockSet: they stay
at their benchmark values (written out below all the same, as the formulas have them).
"""

from __future__ import annotations

import numpy as np

from fragcge.calibration.sam import GlobalSAM
from fragcge.model.shocks import ShockSet

VARIABLES = ("Y", "py", "pm", "M", "pf", "ps", "C", "pc", "pg", "pinv", "YT", "pt", "RA")

BLOCKS = (
    "prf_Y",
    "prf_M",
    "prf_C",
    "prf_G",
    "prf_I",
    "prf_YT",
    "mkt_py",
    "mkt_pm",
    "mkt_pf",
    "mkt_ps",
    "mkt_pc",
    "mkt_pt",
    "inc_RA",
    "numeraire",
)
"""Equation blocks of MODEL.md: zero profit 1–4, market clearance 5–9, income 10, numeraire."""


def ces_index(theta: np.ndarray, rel: np.ndarray, sigma: float) -> float:
    """c(p)/c̄ of MODEL.md's calibrated share form: value shares θ, prices relative to benchmark.

    Terms with a zero share are left out (no flow, no price). σ = 1 is Cobb-Douglas; σ = 0
    (Leontief) is the general formula.
    """
    theta, rel = np.asarray(theta, dtype=float), np.asarray(rel, dtype=float)
    keep = theta > 0
    if not keep.any():
        return 1.0
    t, p = theta[keep], rel[keep]
    if abs(sigma - 1.0) < 1e-12:
        return float(np.exp(np.sum(t * np.log(p))))
    return float(np.sum(t * p ** (1.0 - sigma)) ** (1.0 / (1.0 - sigma)))


def _share(part: np.ndarray, whole: np.ndarray | float) -> np.ndarray:
    part = np.asarray(part, dtype=float)
    whole = np.broadcast_to(np.asarray(whole, dtype=float), part.shape)
    out = np.zeros(part.shape)
    np.divide(part, whole, out=out, where=whole > 0)
    return out


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b where b > 0, else 0 (a relative residual where the account exists)."""
    a = np.asarray(a, dtype=float)
    b = np.broadcast_to(np.asarray(b, dtype=float), a.shape)
    out = np.zeros(a.shape)
    np.divide(a, b, out=out, where=b > 0)
    return out


def benchmark_accounts(sam: GlobalSAM) -> dict[str, np.ndarray]:
    """MODEL.md's derived benchmark accounts, computed here from the data (not from accounts.py)."""
    n = len(sam.sectors)
    mobile = np.array([sam.factor_kind[f] == "mobile" for f in sam.factors])
    vom = (sam.vfm.sum(axis=0) + (sam.vdfm[:, :n] + sam.vifm[:, :n]).sum(axis=0)) / (1 - sam.to0)
    fob = sam.vxmd * (1 + sam.tx0)
    cif = fob + sam.vtwr.sum(axis=0)
    vims = cif * (1 + sam.tm0)
    dd0 = sam.vdfm / (1 + sam.tdf0)
    di0 = sam.vifm / (1 + sam.tif0)
    fd0 = sam.vfm / (1 + sam.tf0)
    final = (sam.vdfm[:, n:] + sam.vifm[:, n:]).sum(axis=0)  # [a, r] at gross prices
    revenue = (
        (sam.to0 * vom).sum(axis=0)
        + (sam.tf0 * fd0).sum(axis=(0, 1))
        + (sam.tdf0 * dd0 + sam.tif0 * di0).sum(axis=(0, 1))
        + (sam.tx0 * sam.vxmd).sum(axis=(0, 2))  # to the exporter
        + (sam.tm0 * cif).sum(axis=(0, 1))  # to the importer
    )
    ra0 = final.sum(axis=0)
    return {
        "vom": vom,
        "fob": fob,
        "cif": cif,
        "vims": vims,
        "vim": vims.sum(axis=1),
        "dd0": dd0,
        "di0": di0,
        "fd0": fd0,
        "evom": np.where(mobile[:, None], fd0.sum(axis=1), 0.0),
        "evom_s": np.where(mobile[:, None, None], 0.0, fd0),
        "vtw": sam.vst.sum(axis=1),
        "vfd": final,
        "ra0": ra0,
        "vb0": ra0 - fd0.sum(axis=(0, 1)) - revenue,
        "mobile": mobile,
    }


def benchmark_values(sam: GlobalSAM) -> dict[str, np.ndarray]:
    """The benchmark point: every price and activity 1, income RA = vc + vg + vi."""
    R, n, F, K = len(sam.regions), len(sam.sectors), len(sam.factors), len(sam.margins)
    ones = {
        "Y": (n, R),
        "py": (n, R),
        "pm": (n, R),
        "M": (n, R),
        "pf": (F, R),
        "ps": (F, n, R),
        "C": (R,),
        "pc": (R,),
        "pg": (R,),
        "pinv": (R,),
        "YT": (K,),
        "pt": (K,),
    }
    out = {k: np.ones(shape) for k, shape in ones.items()}
    out["RA"] = benchmark_accounts(sam)["ra0"].copy()
    return out


def mdl_residuals(
    sam: GlobalSAM, shocks: ShockSet, values: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Residual of every equation of MODEL.md at ``values``, relative to its account's benchmark.

    Zero profit: (unit revenue − unit cost) / benchmark unit cost. Markets: (supply − demand)
    / benchmark supply. Income: (RA − income) / benchmark RA. Numeraire: index − 1. Entries
    where the account is zero in the benchmark are 0.
    """
    missing = set(VARIABLES) - set(values)
    if missing:
        raise KeyError(f"missing variables: {sorted(missing)}")
    v = {k: np.asarray(values[k], dtype=float) for k in VARIABLES}
    acc = benchmark_accounts(sam)
    R, n, F = len(sam.regions), len(sam.sectors), len(sam.factors)
    K = len(sam.margins)
    agents = sam.agents
    midx = [sam.sectors.index(m) for m in sam.margins]
    mobile = acc["mobile"]
    tau, tm, tx = (np.asarray(getattr(shocks, k), dtype=float) for k in ("tau", "tm", "tx"))
    vb = np.asarray(shocks.vb, dtype=float)
    A = np.asarray(shocks.A, dtype=float)
    endow, endow_s = np.asarray(shocks.endow, dtype=float), np.asarray(shocks.endow_s, dtype=float)
    # Tax rates a ShockSet cannot change: at their benchmark levels.
    to, tf, tdf, tif = sam.to0, sam.tf0, sam.tdf0, sam.tif0
    G = np.ones(R)
    I = np.ones(R)  # noqa: E741
    pnum = 1.0
    Y, py, pm, M = v["Y"], v["py"], v["pm"], v["M"]
    pf, ps = v["pf"], v["ps"]
    YT, pt = v["YT"], v["pt"]

    # --- Import composite: delivered prices and volumes on each route s -> r -----------------
    cif = acc["cif"]
    theta_fob = _share(acc["fob"], cif)
    theta_t = _share(sam.vtwr, cif[None])
    pdel = np.ones_like(sam.vxmd)
    V = np.zeros_like(sam.vxmd)
    for i in range(n):
        for s in range(R):
            for r in range(R):
                if sam.vxmd[i, s, r] <= 0:
                    continue
                pcif = theta_fob[i, s, r] * py[i, s] * (1 + tx[i, s, r]) / (1 + sam.tx0[i, s, r])
                pcif += sum(theta_t[k, i, s, r] * pt[k] for k in range(K))
                pdel[i, s, r] = tau[i, s, r] * pcif * (1 + tm[i, s, r]) / (1 + sam.tm0[i, s, r])
                V[i, s, r] = M[i, r] * (pm[i, r] / pdel[i, s, r]) ** sam.esubm[i]
    shipped = tau * V  # units of benchmark flow actually leaving the exporter

    prf_M = np.zeros((n, R))
    for i in range(n):
        for r in range(R):
            if acc["vim"][i, r] > 0:
                cM = ces_index(acc["vims"][i, :, r] / acc["vim"][i, r], pdel[i, :, r], sam.esubm[i])
                prf_M[i, r] = pm[i, r] - cM

    # --- Global transport pool: Cobb-Douglas over regional supplies -------------------------
    prf_YT = np.zeros(K)
    for k, m in enumerate(midx):
        if acc["vtw"][k] > 0:
            cT = ces_index(sam.vst[k] / acc["vtw"][k], py[m], 1.0)
            prf_YT[k] = pt[k] - cT

    # --- Agents: Armington composites, bundles, unit costs and demands ----------------------
    dd = np.zeros_like(sam.vdfm)  # demand for domestic i by agent g in r, benchmark units
    di = np.zeros_like(sam.vifm)  # demand for imported i
    fdem = np.zeros_like(sam.vfm)  # factor demand (net of tax quantities)
    prf_Y = np.zeros((n, R))
    final_cost = np.ones((3, R))  # cC, cG, cI
    final_sigma = (sam.esubp, sam.esubg, sam.esubi)
    final_level = (v["C"], G, I)
    for r in range(R):
        # agent's gross prices relative to benchmark
        p_dom = py[:, r][:, None] * (1 + tdf[:, :, r]) / (1 + sam.tdf0[:, :, r])  # [i, g]
        p_imp = pm[:, r][:, None] * (1 + tif[:, :, r]) / (1 + sam.tif0[:, :, r])
        gross = sam.vdfm[:, :, r] + sam.vifm[:, :, r]  # [i, g]
        pa = np.ones((n, len(agents)))
        for g in range(len(agents)):
            for i in range(n):
                if gross[i, g] > 0:
                    theta_d = sam.vdfm[i, g, r] / gross[i, g]
                    pa[i, g] = ces_index(
                        [theta_d, 1 - theta_d], [p_dom[i, g], p_imp[i, g]], sam.esubd[i]
                    )

        def armington(g, level, p_dom=p_dom, p_imp=p_imp, pa=pa, gross=gross, r=r) -> None:
            """Add agent g's domestic and imported demands for a bundle demand level[i]."""
            for i in range(n):
                if gross[i, g] > 0:
                    sd = sam.esubd[i]
                    dd[i, g, r] += level[i] * acc["dd0"][i, g, r] * (pa[i, g] / p_dom[i, g]) ** sd
                    di[i, g, r] += level[i] * acc["di0"][i, g, r] * (pa[i, g] / p_imp[i, g]) ** sd

        # Production Y[j, r]: CES esubt over value added (esubva) and intermediates (esubc).
        for j in range(n):
            va = sam.vfm[:, j, r].sum()
            inter = gross[:, j].sum()
            if va + inter <= 0:
                continue
            rel_f = np.array(
                [
                    (pf[f, r] if mobile[f] else ps[f, j, r])
                    * (1 + tf[f, j, r])
                    / (1 + sam.tf0[f, j, r])
                    for f in range(F)
                ]
            )
            theta_f = _share(sam.vfm[:, j, r], va)
            pva = ces_index(theta_f, rel_f, sam.esubva[j])
            theta_i = _share(gross[:, j], inter)
            pint = ces_index(theta_i, pa[:, j], sam.esubc[j])
            top = ces_index([va / (va + inter), inter / (va + inter)], [pva, pint], sam.esubt[j])
            c_bar = 1 - sam.to0[j, r]
            cY = c_bar * top
            prf_Y[j, r] = ((1 - to[j, r]) * py[j, r] * A[j, r] - cY) / c_bar
            # Demands per unit of Y down the nest: x̄ · Π (c/c̄ · p̄/p)^σ.
            if va > 0:
                scale_va = (top / pva) ** sam.esubt[j]
                for f in range(F):
                    if sam.vfm[f, j, r] > 0:
                        fdem[f, j, r] = (
                            Y[j, r]
                            * acc["fd0"][f, j, r]
                            * scale_va
                            * (pva / rel_f[f]) ** sam.esubva[j]
                        )
            if inter > 0:
                scale_int = (top / pint) ** sam.esubt[j]
                level = np.zeros(n)
                for i in range(n):
                    if gross[i, j] > 0:
                        level[i] = Y[j, r] * scale_int * (pint / pa[i, j]) ** sam.esubc[j]
                armington(j, level)

        # Final demand: hh (C, esubp), gov (G, esubg), inv (I, esubi).
        for a in range(3):
            g = n + a
            total = gross[:, g].sum()
            if total <= 0:
                continue
            theta_a = gross[:, g] / total
            cost = ces_index(theta_a, pa[:, g], final_sigma[a])
            final_cost[a, r] = cost
            level = np.zeros(n)
            for i in range(n):
                if gross[i, g] > 0:
                    level[i] = final_level[a][r] * (cost / pa[i, g]) ** final_sigma[a]
            armington(g, level)

    vfd = acc["vfd"]
    prf_C = np.where(vfd[0] > 0, v["pc"] - final_cost[0], 0.0)
    prf_G = np.where(vfd[1] > 0, v["pg"] - final_cost[1], 0.0)
    prf_I = np.where(vfd[2] > 0, v["pinv"] - final_cost[2], 0.0)

    # --- Market clearance ------------------------------------------------------------------
    vom = acc["vom"]
    supply_margin = np.zeros((n, R))
    for k, m in enumerate(midx):
        supply_margin[m] = sam.vst[k] * YT[k] * pt[k] / py[m]
    demand_py = dd.sum(axis=1) + (sam.vxmd * shipped).sum(axis=2) + supply_margin
    mkt_py = _ratio(vom * A * Y - demand_py, vom)
    mkt_pm = _ratio(acc["vim"] * M - di.sum(axis=1), acc["vim"])
    evom, evom_s = acc["evom"], acc["evom_s"]
    supply_f, supply_s = evom * endow, evom_s * endow_s
    mkt_pf = _ratio(supply_f - fdem.sum(axis=1), evom) * mobile[:, None]
    mkt_ps = _ratio(supply_s - fdem, evom_s) * (~mobile)[:, None, None]
    spend_c = v["pc"] * vfd[0] * v["C"]
    mkt_pc = _ratio(spend_c - (v["RA"] - v["pg"] * vfd[1] * G - v["pinv"] * vfd[2] * I), vfd[0])
    mkt_pt = np.zeros(K)
    for k in range(K):
        use = (sam.vtwr[k] * shipped).sum()
        mkt_pt[k] = _ratio(acc["vtw"][k] * YT[k] - use, acc["vtw"][k])

    # --- Income ----------------------------------------------------------------------------
    income = np.zeros(R)
    for r in range(R):
        factor_income = (pf[mobile, r] * supply_f[mobile, r]).sum()
        factor_income += (ps[~mobile, :, r] * supply_s[~mobile, :, r]).sum()
        output_tax = (to[:, r] * py[:, r] * vom[:, r] * A[:, r] * Y[:, r]).sum()
        fprice = np.where(mobile[:, None], pf[:, r][:, None], ps[:, :, r])  # [f, j]
        factor_tax = (tf[:, :, r] * fprice * fdem[:, :, r]).sum()
        purchase_tax = (tdf[:, :, r] * py[:, r][:, None] * dd[:, :, r]).sum()
        purchase_tax += (tif[:, :, r] * pm[:, r][:, None] * di[:, :, r]).sum()
        # export tax on r's exports to every s (r the exporter)
        export_tax = (tx[:, r, :] * py[:, r][:, None] * sam.vxmd[:, r, :] * shipped[:, r, :]).sum()
        # tariff on r's imports from every s (r the importer), on τ·V at cif prices
        base = py[:, :, None] * (1 + tx) * sam.vxmd  # [i, s, r]
        for k in range(K):
            base = base + pt[k] * sam.vtwr[k]
        tariff = (tm[:, :, r] * shipped[:, :, r] * base[:, :, r]).sum()
        income[r] = (
            factor_income
            + output_tax
            + factor_tax
            + purchase_tax
            + export_tax
            + tariff
            + pnum * vb[r]
        )
    inc_RA = _ratio(v["RA"] - income, acc["ra0"])

    # --- Numeraire: Laspeyres index of mobile-factor prices, benchmark endowment weights ----
    w = evom[mobile]
    numeraire = np.array([(pf[mobile] * w).sum() / w.sum() - 1.0])

    return {
        "prf_Y": prf_Y,
        "prf_M": prf_M,
        "prf_C": prf_C,
        "prf_G": prf_G,
        "prf_I": prf_I,
        "prf_YT": prf_YT,
        "mkt_py": mkt_py,
        "mkt_pm": mkt_pm,
        "mkt_pf": mkt_pf,
        "mkt_ps": mkt_ps,
        "mkt_pc": mkt_pc,
        "mkt_pt": mkt_pt,
        "inc_RA": inc_RA,
        "numeraire": numeraire,
    }


def max_abs(residuals: dict[str, np.ndarray]) -> dict[str, float]:
    """Largest absolute residual of each block (0 for an empty block)."""
    return {k: float(np.max(np.abs(a))) if a.size else 0.0 for k, a in residuals.items()}
