"""fragcge: the welfare cost of geoeconomic fragmentation in a multi-region CGE model."""

__version__ = "0.1.0"
