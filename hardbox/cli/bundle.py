"""``hardbox bundle IMAGE DIR``: write an OCI runtime bundle that runc, crun or youki start
with the same hardening as ``hardbox run --profile``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from hardbox.cli.inputs import add_pull_arguments
from hardbox.cli.options import add_command

_DESCRIPTION = """\
Write DIR/rootfs (the image's layers merged; owned by the user namespace's host ids when the
profile has one) and DIR/config.json (the profile's capabilities in the bounding, effective
and permitted sets, none inheritable or ambient; noNewPrivileges, seccomp, masked and
read-only paths, namespaces and id mappings, cgroup limits and a device allow-list, rlimits,
the mounts `hardbox run` makes, plus the image's command, environment, user and working
directory). DIR must not exist or be empty; on failure nothing is left behind.

Who may read the bundle: only its owner. DIR is mode 0700 and owned by the host id the
container's root runs as (the user namespace's root, which the runtime needs to reach the
rootfs; the caller when the profile has no user namespace, or a rootless caller). Host root
and that id can enter it; no other host user can list, read or run anything inside, which
matters because the rootfs keeps the image's setuid and setgid files.

Device nodes are left out: an image's block and character devices are never created in the
rootfs. DIR/hardbox-bundle.json lists them ("left_out": path, layer, reason) with anything
else of the image the rootfs does not have."""

_EPILOG = """\
examples:
  hardbox bundle busybox ./bb --profile strict
  sudo runc run -b ./bb mycontainer
  hardbox bundle oci:./layout:latest ./bb --profile default -- /bin/sh -c 'id; cat /proc/self/status'"""


def register(subparsers: Any) -> None:
    parser = add_command(subparsers, "bundle", handler,
                         help="write an OCI runtime bundle (rootfs + config.json) hardened by a profile",
                         description=_DESCRIPTION, epilog=_EPILOG)
    parser.add_argument("image", metavar="IMAGE",
                        help="image reference, docker://REF, archive or layout path")
    parser.add_argument("dir", metavar="DIR", help="the bundle directory to create")
    parser.add_argument("--profile", default="default", help="profile name or file (default: default)")
    add_pull_arguments(parser)
    parser.add_argument("command", nargs=argparse.REMAINDER, metavar="CMD",
                        help="command and arguments instead of the image's Entrypoint/Cmd "
                        "(after --, or after DIR when --profile comes first)")


def _profile_after_dir(args: argparse.Namespace, rest: list[str]) -> list[str]:
    """argparse hands everything after DIR to CMD (REMAINDER); `IMAGE DIR --profile NAME`
    is the documented order, so a leading --profile is taken back before ``--``."""
    from hardbox.errors import UsageError

    while rest and rest[0] != "--" and rest[0].startswith("--profile"):
        if rest[0] == "--profile":
            if len(rest) < 2:
                raise UsageError("--profile needs a profile name or file")
            args.profile, rest = rest[1], rest[2:]
        else:
            args.profile, rest = rest[0].removeprefix("--profile="), rest[1:]
    return rest[1:] if rest and rest[0] == "--" else rest


def handler(args: argparse.Namespace) -> int:
    from hardbox.cli.inputs import pull_options
    from hardbox.image.source import open_image
    from hardbox.image.store.store import Store
    from hardbox.runtime.profile.bundle import write_bundle
    from hardbox.runtime.profile.load import load_profile

    command = _profile_after_dir(args, list(args.command))
    profile = load_profile(args.profile)
    dest = Path(args.dir)
    with open_image(args.image, Store.open(), pull=pull_options(args)) as image:
        notes = write_bundle(image, dest, profile, command)
    for note in notes:
        sys.stderr.write(f"hardbox: note: {note}\n")
    sys.stderr.write(f"wrote {dest}/config.json and {dest}/rootfs (profile {profile.name})\n")
    return 0
