"""``python -m sqlora``: the same CLI as the ``sqlora`` command."""

from sqlora.cli.main import app

app(prog_name="sqlora")
