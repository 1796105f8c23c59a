"""Inputs several subcommands share, resolved one way: the vulnerability database.

Not in ``output.py``: that module is about what a command writes; this one about what it
reads. Library code is imported inside the functions, as in the command modules, so that
building the parser stays cheap.
"""

from __future__ import annotations

from pathlib import Path

from hardbox.errors import UsageError
from hardbox.named_input import require_file_or_dir

_HINT = "create one with `hardbox db import PATH [--db PATH]`"


def vuln_db(path: Path | None, *, required: bool) -> Path | None:
    """The vulnerability index a command reads: ``--db PATH`` (which must exist), else the
    default ``<store root>/db/osv.sqlite``. Without one, ``None`` — scan and gate go on and
    say so — unless ``required`` (``sbom --with-vulns``), which makes it a usage error."""
    from hardbox.scan.vulndb import default_db_path

    named = path is not None
    path = path if path is not None else default_db_path()
    if require_file_or_dir(path, "vulnerability database").exists():
        return path
    if named or required:
        raise UsageError(f"{path}: no vulnerability database there", hint=_HINT)
    return None


def import_db_path(path: Path | None) -> Path:
    """Where ``db import`` writes: ``--db PATH``, else the default index in the store root,
    which is created (mode 0700) first."""
    from hardbox.image.store.store import Store
    from hardbox.scan.vulndb import default_db_path

    if path is not None:
        return path
    Store.open()  # creates the store root 0700: the index sits beside the image layers
    return default_db_path()
