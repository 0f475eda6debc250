"""The ``sqlora`` command (and ``python -m sqlora``): picks the allocator, then runs the typer app.

An allocator can only be chosen when a process starts, so this runs before any command module (and torch) is
imported: training commands start once more with jemalloc preloaded (:mod:`sqlora.training.allocator`).
"""

from __future__ import annotations

import sys


def main() -> None:
    from sqlora.training.allocator import restart_with_jemalloc

    try:
        restart_with_jemalloc(sys.argv)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    from sqlora.cli.main import app

    app(prog_name="sqlora")
