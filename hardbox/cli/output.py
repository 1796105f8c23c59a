"""Output helpers shared by every subcommand: JSON to stdout, report files, progress.

Conventions (docs/architecture.md, and the shared conventions it follows): listing commands
print JSON with ``--json``; report-writing commands take ``--json FILE`` etc. where ``-`` is
stdout, and write their set of reports with ``write_reports``; progress goes to stderr and
only on a terminal.
"""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from hardbox.errors import InputError, UsageError


def print_json(obj: Any) -> None:
    """Stable JSON on stdout: sorted keys, two-space indent, trailing newline."""
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def write_output(target: str, text: str) -> None:
    """Write a report to FILE atomically (temp + rename), or to stdout when FILE is ``-``.

    Nothing is lost on failure: a half-written report never replaces a good one. A FILE that
    exists and is not a regular file (``/dev/null``, ``/dev/stdout``, a FIFO) is written in
    place: renaming over it would replace the device with a file, and as root that breaks
    ``/dev/null`` for the whole machine.
    """
    if target == "-":
        sys.stdout.write(text)
        return
    path = Path(target)
    try:
        special = not stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:
        special = False
    if special:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
        return
    from hardbox.atomicfile import atomic_write  # building the parser loads no library code

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, mode=0o644) as fh:
        fh.write(text.encode("utf-8"))


def add_report_arguments(parser: argparse.ArgumentParser, helps: Mapping[str, str]) -> None:
    """One ``--FORMAT FILE`` option per report format a command writes, ``helps`` saying
    what each holds; the same mapping's keys are what ``report_targets`` reads back."""
    for fmt, text in helps.items():
        parser.add_argument(f"--{fmt}", metavar="FILE", help=text)


def report_targets(args: argparse.Namespace, formats: Iterable[str]) -> dict[str, str]:
    """``{format: FILE}`` for each report flag given (``--json FILE`` ...); read before any
    work, so that two reports asked for on stdout are a usage error, not a mixed stream."""
    targets = {fmt: getattr(args, fmt) for fmt in formats if getattr(args, fmt, None)}
    if sum(1 for target in targets.values() if target == "-") > 1:
        raise UsageError("only one format can be written to stdout (-)")
    return targets


def write_reports(targets: Mapping[str, str], renderers: Mapping[str, Callable[[], str]]) -> bool:
    """Render every report in ``targets``, check every destination can be written, then
    write them (atomically; ``-`` is stdout): a renderer or a destination failing leaves no
    partial set of reports. True when one went to stdout."""
    texts = {fmt: renderers[fmt]() for fmt in targets}
    for target in targets.values():
        _check_writable(target)
    for fmt, target in targets.items():
        try:
            write_output(target, texts[fmt])
        except OSError as err:
            raise InputError(f"{target}: cannot write the report: {err.strerror or err}") from None
    return "-" in targets.values()


def _check_writable(target: str) -> None:
    if target == "-":
        return
    parent = Path(target).parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"{target}: cannot write the report: {err.strerror}") from None
    if Path(target).is_dir():
        raise InputError(f"{target}: cannot write the report: it is a directory")
    if not os.access(parent, os.W_OK):
        raise InputError(f"{target}: cannot write the report: {parent} is not writable")


def stderr_is_tty() -> bool:
    """Progress may be drawn on stderr: it is a terminal and ``-q`` was not given."""
    from hardbox.cli import terminal  # already loaded by cli/main.py

    return sys.stderr.isatty() and not terminal.quiet()


class Progress:
    """A one-line progress indicator on stderr; silent when stderr is not a terminal or
    ``-q`` was given."""

    def __init__(self, label: str, total: int | None = None) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.enabled = stderr_is_tty()

    def advance(self, n: int = 1, note: str = "") -> None:
        self.done += n
        if not self.enabled:
            return
        if self.total:
            text = f"{self.label}: {self.done}/{self.total} {note}"
        else:
            text = f"{self.label}: {self.done} {note}"
        sys.stderr.write("\r\033[K" + text[:120])
        sys.stderr.flush()

    def finish(self, note: str = "") -> None:
        if self.enabled:
            sys.stderr.write("\r\033[K" + (f"{self.label}: {note}\n" if note else ""))
            sys.stderr.flush()


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f}{unit}" if unit == "B" else f"{size:.3g}{unit}"
        size /= 1000
    return f"{n}B"
