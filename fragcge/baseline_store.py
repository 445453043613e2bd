"""Solved baselines on disk, keyed by content hash, shared by every command (issue 13, item 4).

A scenario's baseline (balanced trade, say) is the same equilibrium for every scenario on the
same data, closure, elasticities and baseline shocks: :func:`fragcge.api.solve_loaded` solves
it once and keeps it in the user's cache folder (:func:`cache_folder`), one compressed numpy
file per baseline named by :func:`entry_key`: a sha256 of everything the equilibrium depends
on (the dataset files' hash, closure, quota routes, elasticities, baseline shocks, solver
method: :func:`fragcge.api.baseline_key`), of the solver's options and tolerances, and of the
package's model and calibration source code. An entry is never trusted: :func:`load` checks
its key, shapes and θ against the baseline asked for and the equations' residuals at its
point, and anything that fails (a corrupt, truncated or stale file) is ignored, solved
again and rewritten. Entries are written whole or not at all (a temporary sibling, then a
rename).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import zipfile
from dataclasses import asdict
from functools import cache
from pathlib import Path

import numpy as np

import fragcge.calibration
import fragcge.model
from fragcge import __version__
from fragcge.model.cge import CGEModel, Equilibrium
from fragcge.model.newton import NewtonOptions
from fragcge.model.solve import IPOPT_OPTIONS, RESIDUAL_TOL, SolveResult
from fragcge.output_folder import clean_stale, write_file

CACHE_ENV = "FRAGCGE_CACHE_DIR"
"""Environment variable naming the cache folder; set to an empty string, no cache is used."""

ENTRY_FORMAT = 1
"""Version of an entry's layout; part of the key."""

MAX_ENTRIES = 500
"""Entries kept: writing one more deletes the least recently used beyond this (a Monte
Carlo batch over elasticities writes one baseline per draw; an entry is about 16 KB at
10 x 8 and 1 MB at 41 x 35)."""

_ENTRY = re.compile(r"^[0-9a-f]{64}\.npz$")
"""An entry's file name; nothing else in the folder is touched."""

_CODE = (fragcge.model, fragcge.calibration)
"""The packages whose code decides a baseline's numbers."""


def cache_folder() -> Path | None:
    """The cache folder: $FRAGCGE_CACHE_DIR if set (empty: none), else
    $XDG_CACHE_HOME/fragcge, else ~/.cache/fragcge."""
    chosen = os.environ.get(CACHE_ENV)
    if chosen is not None:
        return Path(chosen).expanduser() if chosen else None
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "fragcge"


@cache
def code_version() -> str:
    """sha256 of the package version and of the model and calibration source files."""
    digest = hashlib.sha256(f"{__version__}\0{ENTRY_FORMAT}\n".encode())
    for package in _CODE:
        for path in sorted(Path(package.__path__[0]).glob("*.py")):
            digest.update(f"{package.__name__}/{path.name}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def entry_key(baseline_key: str) -> str:
    """The entry's name: sha256 of the baseline's key, the solvers' options and the code."""
    options = json.dumps(
        {"ipopt": IPOPT_OPTIONS, "newton": asdict(NewtonOptions()), "tol": RESIDUAL_TOL},
        sort_keys=True,
    )
    text = f"{baseline_key}\0{options}\0{code_version()}"
    return hashlib.sha256(text.encode()).hexdigest()


def entry_path(folder: Path, key: str) -> Path:
    """Where the entry of ``key`` (an :func:`entry_key`) lives in the cache folder."""
    return folder / "baselines" / f"{key}.npz"


Origin = tuple[np.ndarray, np.ndarray]
"""Where a Newton–Krylov solve last factored J: (x, θ)."""


def load(
    path: Path, key: str, model: CGEModel, theta: np.ndarray
) -> tuple[Equilibrium, Origin | None] | None:
    """The baseline stored at ``path`` if it is the one of ``key`` at parameters ``theta``
    and an equilibrium of ``model`` there; None if the file is missing or fails any check."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            data = {name: stored[name] for name in stored.files}
        record = json.loads(str(data["record"]))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    x, solved_at = data.get("x"), data.get("theta")
    n = model.system.n
    if (
        record.get("key") != key
        or x is None
        or solved_at is None
        or x.shape != (n,)
        or solved_at.shape != theta.shape
        or not (np.all(np.isfinite(x)) and np.all(np.isfinite(solved_at)))
        # The homotopy's last θ is θ0 + 1·(target − θ0): the target up to rounding.
        or np.max(np.abs(solved_at - theta) / np.maximum(1.0, np.abs(theta)), initial=0) > 1e-12
    ):
        return None
    residuals = model.evaluator.at(solved_at).residuals(x, include_dropped=True)
    largest = float(np.max(np.abs(residuals[:n])))
    if not (largest < RESIDUAL_TOL and np.all(x > model.system.lower_bounds())):
        return None
    origin = None
    if "origin_x" in data:
        origin = (data["origin_x"], data["origin_theta"])
        if origin[0].shape != (n,) or origin[1].shape != theta.shape:
            return None
    try:
        fields = record["result"]
        fields["worst"] = [tuple(w) for w in fields["worst"]]
        fields["nonpositive"] = [tuple(w) for w in fields["nonpositive"]]
        result = SolveResult(x=x, theta=solved_at, **fields)
    except (TypeError, KeyError):
        return None
    result.max_residual = largest
    with contextlib.suppress(OSError):
        os.utime(path)  # used: the last to go when the folder is pruned
    return Equilibrium(x, result, float(residuals[n]), solved_at), origin


def save(path: Path, key: str, eq: Equilibrium, origin: Origin | None) -> None:
    """Write the entry of ``key`` (an equilibrium and its factors' origin) atomically."""
    r = eq.result
    result = {
        "status": r.status,
        "message": r.message,
        "iterations": r.iterations,
        "seconds": r.seconds,
        "max_residual": r.max_residual,
        "steps": r.steps,
        "worst": r.worst,
        "nonpositive": r.nonpositive,
        "options": r.options,
        "solver": r.solver,
        "factorizations": r.factorizations,
        "krylov_iterations": r.krylov_iterations,
    }
    arrays = {
        "record": np.array(json.dumps({"key": key, "result": result})),
        "x": eq.x,
        "theta": eq.theta,
    }
    if origin is not None:
        arrays["origin_x"], arrays["origin_theta"] = origin
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(path.parent)
    write_file(path, buffer.getvalue())
    _prune(path.parent, MAX_ENTRIES)


def _prune(folder: Path, keep: int) -> None:
    """Delete the least recently used entries beyond ``keep`` (only files named as entries)."""
    entries = []
    for entry in folder.iterdir():
        if _ENTRY.match(entry.name):
            with contextlib.suppress(OSError):
                entries.append((entry.stat().st_mtime_ns, entry.name, entry))
    for _, _, entry in sorted(entries)[: max(0, len(entries) - keep)]:
        entry.unlink(missing_ok=True)
