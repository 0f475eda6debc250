"""``python -m sqlora``: the ``sqlora`` command line."""

from sqlora.cli.main import app

app()
