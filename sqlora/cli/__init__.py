"""The ``sqlora`` command line (typer + rich); one module per group of commands."""
