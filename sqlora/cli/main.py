"""Entry point: importing the command modules registers their commands on ``app``."""

from sqlora.cli import (  # noqa: F401
    adapt,
    analyze,
    ask,
    data,
    demo,
    evaluate,
    export,
    mcp,
    models,
    serve,
    sqltools,
    train,
)
from sqlora.cli.app import app

__all__ = ["app"]

if __name__ == "__main__":  # the same as `python -m sqlora` and the `sqlora` command
    from sqlora.cli.entry import main

    main()
