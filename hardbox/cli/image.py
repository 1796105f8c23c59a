"""``hardbox image``: import, list, inspect, tag, remove, prune, export and check stored images.

Thin: parse, call ``hardbox.image`` (imported inside the handlers), print. ``--json`` shapes
are documented in docs/cli-image.md and are an interface: change them there first.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from hardbox.cli.inputs import add_pull_arguments
from hardbox.cli.options import add_command, add_group, add_json_flag
from hardbox.cli.output import Progress, human_size, print_json

if TYPE_CHECKING:
    from hardbox.image.store.images import StoredImage

_FORMATS = ("docker-archive", "oci", "oci-archive")


def register(subparsers: argparse._SubParsersAction) -> None:
    sub = add_group(
        subparsers, "image", help="manage the local image store",
        description="Manage the local, content-addressed image store. Images are named as "
        "Docker names them (bbtest = docker.io/library/bbtest:latest), by name@sha256:DIGEST, "
        "or by a prefix of their id (the config digest).",
    )

    p = add_command(
        sub, "import", _import, help="import images from an archive or OCI layout",
        description="Import a docker archive (docker save, skopeo docker-archive:), an OCI "
        "layout directory or an OCI layout tar. The format is detected; transport prefixes "
        "(docker-archive:, oci:, oci-archive:) are accepted too. PATH:REF imports only the "
        "image named REF. Every digest is verified and each layer is unpacked once; layers "
        "already stored are neither read nor written again.",
        epilog="examples: hardbox image import bbtest.tar; hardbox image import ./layout:v2 "
        "--tag app:2; hardbox image import multi.tar --platform linux/arm64",
    )
    p.add_argument("path", metavar="PATH", help="archive, layout directory, or PATH:REF")
    p.add_argument("--tag", metavar="NAME[:TAG]", help="also tag the imported image NAME:TAG")
    p.add_argument("--platform", metavar="OS/ARCH[/VARIANT]",
                   help="platform to take from a multi-platform index (default: this host's)")

    p = add_command(sub, "ls", _ls, help="list stored images",
                    description="List stored images, one row per tag, newest import first.")
    add_json_flag(p, "print a JSON list of {id, manifest_digest, tags, size, created}")

    p = add_command(sub, "inspect", _inspect, help="show an image's config and layers",
                    description="Show an image's config and its layers, oldest first.")
    p.add_argument("ref", metavar="REF", help="name, name@digest, id or id prefix, or "
                   "docker://REF (pulled into the store when it is not there)")
    add_json_flag(p, "print {id, manifest_digest, tags, config, layers: [{digest, diff_id, "
                  "size, created_by}]}")
    add_pull_arguments(p)

    p = add_command(sub, "history", _history, help="show how an image was built",
                    description="Every history entry of the image, newest first, empty ones "
                    "(ENV, CMD, ...) too, with the layer each one made and its size.")
    p.add_argument("ref", metavar="REF")
    add_json_flag(p, "print a JSON list of {created, created_by, comment, empty_layer, "
                  "layer, size}, newest first")

    p = add_command(sub, "tag", _tag, help="give an image another name",
                    description="Point DST at the image SRC names; an existing DST moves.")
    p.add_argument("src", metavar="SRC")
    p.add_argument("dst", metavar="DST", help="NAME[:TAG]")

    p = add_command(sub, "rm", _rm, help="remove tags or images",
                    description="Remove a tag (the image goes when its last tag does), or "
                    "an image by id or digest with all its tags. Blobs and layers no other "
                    "image uses are deleted. An image a running container uses is refused "
                    "unless -f is given; its layers then stay until the container is removed.")
    p.add_argument("refs", metavar="REF", nargs="+")
    p.add_argument("-f", "--force", action="store_true",
                   help="remove an image even if a running container uses it")

    add_command(sub, "prune", _prune, help="remove untagged images and unused blobs and layers",
                description="Remove untagged images, then every blob and unpacked layer "
                "no stored image references, and the layer downloads interrupted "
                "pulls left (partial-blobs/). Stale container records (recorded running, "
                "nothing of them left running: a killed run or minimize) go too, with "
                "their empty cgroups.")

    p = add_command(
        sub, "fsck", _fsck, help="check the store for damage, and set it aside",
        description="Check every image record (images/*.json), tags.json, every layer record "
        "and unpacked layer directory, and the sha256 of every blob. Without --repair nothing "
        "is written (it works on a read-only store). With --repair, damaged files and the image "
        "records that depend on them are moved into lost+found/<time>/ under the store root "
        "(nothing is deleted), and tags.json keeps only the tags of sound images; re-import "
        "what was set aside, and `hardbox image prune` collects what no sound image uses.",
        epilog="exit status: 0 the store is sound; 1 damage was found (with --repair: found and "
        "set aside; a second run exits 0); 2 usage error. examples: hardbox image fsck; "
        "hardbox image fsck --repair; hardbox image fsck --json",
    )
    p.add_argument("--repair", action="store_true",
                   help="move damage aside and rebuild tags.json from the sound images")
    add_json_flag(p, "print {root, clean, repaired, checked, quarantine, problems: [{kind, "
                  "path, detail, action}]} (docs/cli-image.md)")

    p = add_command(
        sub, "export", _export, help="write an image as an archive or OCI layout",
        description="Write a stored image as a docker archive (docker load, skopeo), an OCI "
        "layout directory (umoci, skopeo oci:), or an OCI layout tar. Exporting into an "
        "existing OCI layout adds the image to it.",
    )
    p.add_argument("ref", metavar="REF")
    p.add_argument("-o", "--output", metavar="PATH",
                   help="where to write; - or no -o with stdout not a terminal: stdout, as "
                   "`docker save` (tar formats only)")
    p.add_argument("--format", choices=_FORMATS, default="docker-archive",
                   help="docker-archive (default), oci (a directory) or oci-archive")


def _store() -> Any:
    from hardbox.image.store.store import Store

    return Store.open()


def _import(args: argparse.Namespace) -> int:
    from hardbox.image.formats.platform import Platform
    from hardbox.image.store.importer import import_path

    platform = Platform.parse(args.platform) if args.platform else None
    bar = Progress(f"importing {args.path}")
    shown = [0]

    def progress(done: int, total: int | None, note: str) -> None:
        mb = done >> 20
        if mb > shown[0]:
            bar.total = (total >> 20) if total else None
            bar.advance(mb - shown[0], "MB")
            shown[0] = mb

    try:
        images = import_path(_store(), args.path, tag=args.tag, platform=platform,
                             progress=progress)
    finally:
        bar.finish()
    for image in images:
        names = ", ".join(image.tags) or "<untagged>"
        print(f"Loaded image: {names} ({image.id})")
    return 0


def _ls(args: argparse.Namespace) -> int:
    images = _store().images()
    if args.json:
        print_json([{"id": im.id, "manifest_digest": im.manifest_digest, "tags": list(im.tags),
                     "size": im.size, "created": im.created} for im in images])
        return 0
    from hardbox.image.reference import parse

    rows = [("REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE")]
    for im in images:
        for name in im.tags or ("<none>:<none>",):
            # Docker's short spelling (bbtest, quay.io/x/y); --json gives full names.
            repo, _, tag = (parse(name).familiar if im.tags else name).rpartition(":")
            rows.append((repo, tag, _short(im.id), _ago(im.created), human_size(im.size)))
    _table(rows)
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from hardbox.cli.inputs import stored_image

    image = stored_image(_store(), args.ref, args)
    if args.json:
        print_json({
            "id": image.id,
            "manifest_digest": image.manifest_digest,
            "tags": list(image.tags),
            "config": image.config.raw,
            "layers": [{"digest": la.digest, "diff_id": la.diff_id, "size": la.size,
                        "created_by": la.created_by} for la in image.layers],
        })
        return 0
    c = image.config
    fields = [
        ("Id", image.id), ("Manifest", image.manifest_digest),
        ("Tags", ", ".join(image.tags) or "<none>"), ("Created", c.created or ""),
        ("Platform", f"{c.os}/{c.architecture}" + (f"/{c.variant}" if c.variant else "")),
        ("User", c.user or "(root)"), ("Entrypoint", _argv(c.entrypoint)), ("Cmd", _argv(c.cmd)),
        ("WorkingDir", c.working_dir), ("Env", "; ".join(c.env)),
        ("ExposedPorts", ", ".join(c.exposed_ports)), ("Volumes", ", ".join(c.volumes)),
        ("Labels", ", ".join(f"{k}={v}" for k, v in sorted(c.labels.items()))),
        ("StopSignal", c.stop_signal or ""), ("Size", human_size(image.size)),
    ]
    for key, value in fields:
        print(f"{key + ':':<14}{value}")
    rows = [("#", "DIFF_ID", "SIZE", "CREATED BY")]
    rows += [(str(la.index), _short(la.diff_id), human_size(la.size), _clip(la.created_by))
             for la in image.layers]
    print("Layers (oldest first):")
    _table(rows, indent="  ")
    return 0


def history_rows(image: StoredImage) -> list[dict[str, Any]]:
    """Newest first; an image without history gets one row per layer, as docker shows it."""
    if image.history:
        pairs = list(zip(image.history, image.layer_for_history(), strict=True))
        rows = [{"created": h.created, "created_by": h.created_by, "comment": h.comment,
                 "empty_layer": h.empty_layer, "layer": la.diff_id if la else None,
                 "size": la.size if la else 0} for h, la in pairs]
    else:
        rows = [{"created": None, "created_by": la.created_by, "comment": "",
                 "empty_layer": False, "layer": la.diff_id, "size": la.size}
                for la in image.layers]
    return list(reversed(rows))


def _history(args: argparse.Namespace) -> int:
    rows = history_rows(_store().get(args.ref))
    if args.json:
        print_json(rows)
        return 0
    table = [("CREATED", "CREATED BY", "SIZE", "LAYER", "COMMENT")]
    table += [(_ago(r["created"]), _clip(r["created_by"]), human_size(r["size"]),
               _short(r["layer"]) if r["layer"] else "<none>", _clip(r["comment"], 30))
              for r in rows]
    _table(table)
    return 0


def _tag(args: argparse.Namespace) -> int:
    from hardbox.image.store.importer import tag

    image = tag(_store(), args.src, args.dst)
    print(f"Tagged {_short(image.id)} as {', '.join(image.tags)}")
    return 0


def _rm(args: argparse.Namespace) -> int:
    from hardbox.image.store.prune import remove

    store = _store()
    for ref in args.refs:
        removed = remove(store, ref, force=args.force)
        for tag in removed.tags:
            print(f"Untagged: {tag}")
        for manifest in removed.images:
            print(f"Deleted: {manifest}")
    return 0


def _prune(args: argparse.Namespace) -> int:
    from hardbox.image.store.prune import prune

    removed = prune(_store())
    print(f"Deleted {len(removed.images)} untagged images, {removed.blobs} blobs and "
          f"{removed.layers} unpacked layers; reclaimed {human_size(removed.bytes)} of blobs")
    if removed.partials:
        print(f"Removed {removed.partials} interrupted layer downloads "
              f"({human_size(removed.partial_bytes)})")
    if removed.containers:
        print(f"Removed {len(removed.containers)} stale container records: "
              + ", ".join(c[:12] for c in removed.containers))
    return 0


def _fsck(args: argparse.Namespace) -> int:
    from hardbox.errors import StoreError
    from hardbox.image.store.fsck import check_store
    from hardbox.root import default_root

    root = default_root()
    if not root.is_dir():
        raise StoreError(f"image fsck: no image store at {root}",
                         "set $HARDBOX_ROOT to the store to check")
    report = check_store(root, repair=args.repair)
    if args.json:
        print_json(report.to_json())
    else:
        counts = ", ".join(f"{n} {k}" for k, n in sorted(report.checked.items())) or "nothing"
        print(f"Checked {counts} in {root}")
        for problem in report.problems:
            action = f" [{problem.action}]" if problem.action else ""
            print(f"{problem.kind}: {problem.path}: {problem.detail}{action}")
        if report.clean:
            print("No damage found")
        elif report.repaired:
            print(f"Damage set aside in {root / report.quarantine}" if report.quarantine
                  else "Damage repaired")
        else:
            print(f"{len(report.problems)} problems; `hardbox image fsck --repair` sets them aside")
    return 0 if report.clean else 1


def _export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from hardbox.errors import InvalidReference, UsageError
    from hardbox.image.formats.export import export
    from hardbox.image.store.importer import full_name

    to_stdout = args.output == "-" or (args.output is None and not sys.stdout.isatty())
    if args.output is None and not to_stdout:
        raise UsageError("refusing to write an image archive to the terminal",
                         "give -o PATH, or redirect stdout (hardbox image export REF > image.tar)")
    if to_stdout and args.format == "oci":
        raise UsageError("--format oci is a directory and cannot be written to stdout",
                         "give -o DIR, or use --format oci-archive for a tar")
    store = _store()
    image = store.get(args.ref)
    name = None
    try:
        candidate = full_name(args.ref)
        name = candidate if candidate in image.tags else None
    except InvalidReference:  # an id or digest is not a name: export under the image's tags
        name = None
    if to_stdout:
        from hardbox.image.formats.export import export_stream

        sys.stdout.flush()
        export_stream(store, image, sys.stdout.buffer, args.format, name)
        sys.stdout.buffer.flush()
        return 0
    export(store, image, Path(args.output), args.format, name)
    print(f"Exported {_short(image.id)} to {args.output} ({args.format})")
    return 0


def _short(digest: str) -> str:
    return digest.removeprefix("sha256:")[:12]


def _clip(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _argv(argv: tuple[str, ...]) -> str:
    return " ".join(argv)


def _ago(created: str | None) -> str:
    if not created:
        return "<unknown>"
    try:
        when = datetime.fromisoformat(created.replace("Z", "+00:00"))
    except ValueError:
        return created
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = int((datetime.now(UTC) - when).total_seconds())
    for unit, size in (("year", 31536000), ("month", 2592000), ("day", 86400),
                       ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n > 1 else ''} ago"
    return "just now"


def _table(rows: Sequence[tuple[str, ...]], indent: str = "") -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(indent + "   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
