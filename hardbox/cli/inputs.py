"""Inputs several subcommands share, declared and resolved one way: the vulnerability
database (``--db``), and how a registry image is pulled (``--pull``, ``--tls-verify``,
``--keep-image``).

Not in ``output.py``: that module is about what a command writes; this one about what it
reads. Library code is imported inside the functions, as in the command modules, so that
building the parser stays cheap.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast

from hardbox.errors import UsageError

if TYPE_CHECKING:
    from hardbox.image.source import PullOptions
    from hardbox.image.store.images import StoredImage
    from hardbox.image.store.store import Store

PULL_CHOICES = ("missing", "always", "never")  # image/source.PullPolicy (a test checks)
_HINT = "create one with `hardbox db import PATH [--db PATH]`"


def add_db_argument(parser: argparse.ArgumentParser, help: str) -> None:
    """``--db PATH``, the vulnerability index a command reads (``vuln_db``) or writes
    (``import_db_path``); ``help`` says what the command does with it."""
    parser.add_argument("--db", metavar="PATH", type=Path, help=help)


def vuln_db(path: Path | None, *, required: bool) -> Path | None:
    """The vulnerability index a command reads: ``--db PATH`` (which must exist), else the
    default ``<store root>/db/osv.sqlite``. Without one, ``None`` — scan and gate go on and
    say so — unless ``required`` (``sbom --with-vulns``), which makes it a usage error."""
    from hardbox.named_input import require_file_or_dir
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


def add_tls_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tls-verify", choices=("true", "false"), default="true",
                        help="verify the registry's TLS certificate (default true); false also "
                        "allows plain HTTP to a registry that is not on loopback")


def default_pull() -> str:
    """``--pull``'s default: ``$HARDBOX_PULL`` (a whole CI job made offline with ``never``),
    else ``missing``. Checked when used (``pull_policy``), not when the parser is built."""
    return os.environ.get("HARDBOX_PULL") or "missing"


def add_pull_arguments(parser: argparse.ArgumentParser, *, temporary: bool = False) -> None:
    """``--pull``, ``--tls-verify`` and, for a command that pulls into a temporary store
    (``temporary``: scan, sbom, gate), ``--keep-image``."""
    parser.add_argument("--pull", choices=PULL_CHOICES, default=default_pull(),
                        help="for a registry image (docker://REF, or a name the store lacks): "
                        "pull when it is not stored (missing, the default), every time "
                        "(always), or never (offline: a missing image is an error); "
                        "$HARDBOX_PULL sets the default")
    add_tls_argument(parser)
    if temporary:
        parser.add_argument("--keep-image", action="store_true",
                            help="keep a pulled image in the store (by default it is pulled "
                            "into a temporary store, and the store is left as it was)")


def pull_options(args: argparse.Namespace, *, keep: bool = True) -> PullOptions:
    """The ``PullOptions`` of the parsed ``add_pull_arguments`` flags; ``keep`` (the user's
    store) unless the command pulls into a temporary one and ``--keep-image`` is not set."""
    from hardbox.cli.layerprogress import LayerProgress
    from hardbox.image.source import PullOptions

    keep = keep or bool(getattr(args, "keep_image", False))
    return PullOptions(pull_policy(args), keep, args.tls_verify == "true", LayerProgress)


def pull_policy(args: argparse.Namespace) -> Literal["missing", "always", "never"]:
    """``--pull``, or the ``$HARDBOX_PULL`` it defaulted to (which argparse does not check)."""
    policy = args.pull
    if policy not in PULL_CHOICES:
        raise UsageError(f"HARDBOX_PULL={policy!r}: expected one of {', '.join(PULL_CHOICES)}")
    return cast(Literal["missing", "always", "never"], policy)


def stored_image(store: Store, name: str, args: argparse.Namespace) -> StoredImage:
    """The image ``name`` names, in the store, pulled into it first when ``--pull`` allows:
    for the commands that use a stored image (run, minimize, image inspect)."""
    # A stored image needs no registry code, whether a miss would pull (missing) or be
    # refused (never): the common case of `run`, read without importing any of it (start-up).
    if pull_policy(args) != "always" and not name.startswith("docker://"):
        from hardbox.errors import ImageNotFound

        try:
            return store.get(name)
        except ImageNotFound:
            pass
    from hardbox.image.source import stored_image as pulled_into_store

    return pulled_into_store(name, store, pull_options(args))
