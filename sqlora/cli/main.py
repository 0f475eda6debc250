"""Entry point: importing the command modules registers their commands on ``app``."""

from sqlora.cli import analyze, ask, data, demo, evaluate, export, models, serve, sqltools, train  # noqa: F401
from sqlora.cli.app import app

__all__ = ["app"]

if __name__ == "__main__":
    app()
