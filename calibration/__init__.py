"""Datasets: reading, validating, importing and calibrating benchmark economies."""

from fragcge.calibration.pymrio_source import from_pymrio

__all__ = ["from_pymrio"]
