"""synthetic_sam solves for output by GMRES: the same benchmarks as the dense solve it replaced."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fragcge.calibration.synthetic import synthetic_sam

DENSE = Path(__file__).resolve().parent / "data" / "synthetic_dense_lu"
CONFIGS = json.loads((DENSE / "configs.json").read_text())
FLOWS = ("vfm", "vdfm", "vifm", "vxmd", "vtwr", "vst")


@pytest.mark.parametrize("k", range(len(CONFIGS)))
def test_gmres_output_gives_the_dense_solve_flows(k: int) -> None:
    """Every flow within 1e-12 of its value in the dense solve's dataset (relative)."""
    args = {key: tuple(v) if isinstance(v, list) else v for key, v in CONFIGS[k].items()}
    sam = synthetic_sam(**args)
    with np.load(DENSE / "flows.npz") as dense:
        for name in FLOWS:
            # Stored flat: the file keeps no shape for empty arrays (no margins).
            expected, got = dense[f"{k}_{name}"].ravel(), getattr(sam, name).ravel()
            assert got.size == expected.size, name
            scale = np.maximum(np.abs(expected), 1e-300)
            assert np.max(np.abs(got - expected) / scale, initial=0.0) < 1e-12, name
