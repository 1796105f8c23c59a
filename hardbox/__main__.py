"""``python -m hardbox``: the same as the ``hardbox`` console script."""

from hardbox.cli.main import run

run()
