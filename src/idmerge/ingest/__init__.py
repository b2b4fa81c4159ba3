"""Ingestion: events through the identity engine into the store, one transaction a batch."""

from idmerge.ingest.pipeline import ProjectWriter, SplitResult, load_engine

__all__ = ["ProjectWriter", "SplitResult", "load_engine"]
