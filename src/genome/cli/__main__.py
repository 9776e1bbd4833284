"""``python -m genome.cli``: the ``genome`` command."""

from genome.cli import app

app()
