"""The HTTP server: Mixpanel and Segment/Customer.io ingestion, and the identity API."""

from idmerge.server.app import create_app

__all__ = ["create_app"]
