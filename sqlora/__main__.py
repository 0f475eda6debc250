"""``python -m sqlora``: the same CLI as the ``sqlora`` command."""

from sqlora.cli.entry import main

main()
