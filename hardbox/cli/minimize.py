"""``hardbox minimize``: write a smaller image that still passes the user's probes."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from hardbox.cli.inputs import add_pull_arguments
from hardbox.cli.options import add_command, add_json_flag
from hardbox.cli.output import human_size, print_json, write_output
from hardbox.errors import UsageError

if TYPE_CHECKING:
    from hardbox.image.reference import Reference
    from hardbox.image.registry.push import Pushed
    from hardbox.image.store.store import Store


def register(subparsers: argparse._SubParsersAction) -> None:
    p = add_command(
        subparsers, "minimize", _minimize, help="strip the files an image does not need",
        description="Write a new single-layer image holding only what the image needs: the "
        "ELF closure of its entrypoint and of every probe's programs (read from the files), "
        "what glibc and interpreters load by name (NSS, gconv, CA certificates, tzdata, "
        "account files), and every path the probes touch when traced (strace) under hardbox's "
        "runtime. Package databases are rewritten to list only what is kept. Every probe is run "
        "again on the result and must give the same exit status and output; otherwise nothing "
        "is tagged and the paths it missed are named.",
        epilog="example: hardbox minimize debian:12 --tag debian:12-min "
        "--probe 'bash -c \"ls / | wc -l\"' --probe 'getent passwd root' --report min.html",
    )
    p.add_argument("image", metavar="IMAGE",
                   help="a stored image, or docker://REF (pulled into the store per --pull)")
    p.add_argument("--tag", required=True, metavar="NEW:TAG", help="name for the minimized image")
    p.add_argument("--probe", action="append", default=[], metavar="CMD",
                   help="a command line that must behave the same on the result (repeatable; "
                   "split as a POSIX shell splits words)")
    p.add_argument("--keep", action="append", default=[], metavar="PATH",
                   help="a path (file or directory) to keep whatever the analysis says")
    p.add_argument("--profile", default="default", help="profile the probes run under (default: default)")
    p.add_argument("--report", metavar="FILE", help="write the report: HTML, or JSON when FILE ends in .json")
    p.add_argument("--report-json", metavar="FILE", help="write the JSON report to FILE (- for stdout)")
    add_json_flag(p, "print the JSON report on stdout")
    p.add_argument("--push", metavar="DEST",
                   help="push the verified result to DEST (docker://REF or REF; needs a "
                   "--probe) and print its manifest digest")
    add_pull_arguments(p)


def _minimize(args: argparse.Namespace) -> int:
    from hardbox.cli.inputs import stored_image
    from hardbox.image.store.store import Store
    from hardbox.minimize import report
    from hardbox.minimize.minimizer import (
        MinimizeOptions,
        VerificationFailed,
        describe_missing,
        minimize,
    )

    if os.geteuid() != 0:
        # It mounts the image's layers and traces its probes' containers from the host;
        # neither works from inside a user namespace, where a rootless store is read.
        raise UsageError("hardbox minimize needs root: it mounts the image's layers and traces its "
                         "probes from the host (rootless minimize is not supported yet)",
                         hint="run it as root on an image in root's store (sudo hardbox image import ...)")
    try:
        probes = tuple(tuple(shlex.split(p)) for p in args.probe)
    except ValueError as err:
        raise UsageError(f"--probe: {err}") from None
    options = MinimizeOptions(args.tag, probes, tuple(args.keep), args.profile)
    dest = _push_destination(args.push, probes) if args.push else None
    quiet = args.json or args.report_json == "-"

    def say(message: str) -> None:
        if not (quiet or args.quiet):  # -q: no progress lines (cli/main.py)
            sys.stderr.write(f"minimize: {message}\n")

    if not probes:
        say("no --probe given: the result is built from static analysis only and not verified")
    store = Store.open()
    source = stored_image(store, args.image, args)
    result = minimize(store, source.manifest_digest, options, say)
    if args.report:
        text = report.to_json(result) if args.report.endswith(".json") else report.to_html(result)
        write_output(args.report, text)
    if args.report_json:
        write_output(args.report_json, report.to_json(result))
    if result.checks and not result.verified:
        if args.json:
            print_json(report.to_dict(result))
        raise VerificationFailed(
            "the minimized image does not pass its probes; nothing was tagged\n" + describe_missing(result.checks),
            hint="add what it needs with --keep PATH, or a probe that exercises it",
        )
    pushed = _push(store, result.tag, dest, args, say) if dest is not None else None
    if args.json:
        shown = report.to_dict(result)
        if pushed is not None:
            shown["pushed"] = {"reference": pushed.reference, "digest": pushed.digest}
        print_json(shown)
    if not quiet:
        ratio = result.before_size / result.after_size if result.after_size else 0
        print(f"{result.tag}: {human_size(result.before_size)} -> {human_size(result.after_size)} "
              f"({ratio:.1f}x smaller), {result.before_files} -> {result.after_files} files, "
              f"{len(result.databases.removed_packages)} packages removed")
        if pushed is not None:
            print(pushed.digest)  # last, as `hardbox push` prints it
    return 0


def _push_destination(text: str, probes: tuple[tuple[str, ...], ...]) -> Reference:
    """DEST, checked before any work: a verified result needs a probe to verify it."""
    from hardbox.image.registry import refs

    if not probes:
        raise UsageError("--push needs a --probe: only a result verified by its probes is pushed")
    return refs.parse(text)


def _push(store: Store, tag: str | None, dest: Reference, args: argparse.Namespace,
          say: Callable[[str], None]) -> Pushed:
    """Push the tagged, verified result to ``dest``."""
    from hardbox.cli.layerprogress import LayerProgress
    from hardbox.image.registry.client import connect
    from hardbox.image.registry.push import push

    assert tag is not None  # a verified result is tagged
    say(f"pushing {tag} to {dest}")
    client = connect(dest.domain, tls_verify=args.tls_verify == "true")
    progress = LayerProgress(f"push {dest}", idle="writing the manifest")
    try:
        pushed = push(store, client, store.get(tag), dest, progress=progress)
    finally:
        progress.finish()
    return pushed
