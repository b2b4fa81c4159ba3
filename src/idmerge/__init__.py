"""idmerge: a self-hosted collector that resolves who is who in product analytics."""

__version__ = "0.1.0"
