"""HTTP serving: a FastAPI app that batches concurrent questions onto one model and runs SQL read-only."""

from sqlora.serving.app import ServeSettings, create_app

__all__ = ["ServeSettings", "create_app"]
