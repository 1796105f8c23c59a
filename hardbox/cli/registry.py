"""``hardbox pull``, ``push``, ``login`` and ``logout``: the registry commands. Thin:
parse, call ``hardbox.image.registry`` and ``hardbox.net.authfile``, print.

``pull --json`` prints ``[{reference, id, digest}]``, one object per image pulled.
``push --json`` prints ``{reference, digest, uploaded, mounted, existing}`` (blob digests).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from hardbox.cli.inputs import add_tls_argument
from hardbox.cli.layerprogress import LayerProgress
from hardbox.cli.options import add_command, add_json_flag
from hardbox.cli.output import print_json

if TYPE_CHECKING:
    from hardbox.net import Session


def register(subparsers: argparse._SubParsersAction) -> None:
    p = add_command(
        subparsers, "pull", _pull, help="pull an image from a registry into the store",
        description="Pull REF (docker://REF or a bare REF; a short name means docker.io, "
        "never a guess from a search list) into the store. Every manifest and blob is "
        "verified against its digest before anything is stored; layers the store already "
        "has are not downloaded again. Prints the image id and manifest digest.",
        epilog="examples: hardbox pull docker://127.0.0.1:5000/app:1; "
        "hardbox pull quay.io/org/app@sha256:…; hardbox pull --platform linux/arm64 debian",
    )
    p.add_argument("ref", metavar="REF")
    p.add_argument("--platform", metavar="OS/ARCH[/VARIANT]",
                   help="the platform to take from a multi-platform image (default: the host's)")
    p.add_argument("--all-tags", action="store_true", help="pull every tag of the repository")
    add_tls_argument(p)
    add_json_flag(p, "print [{reference, id, digest}]")

    p = add_command(
        subparsers, "push", _push, help="push an image from the store to a registry",
        description="Push the stored image LOCAL to DEST (docker://REF or a bare REF; default "
        "LOCAL's own name). Blobs the registry already has are skipped, blobs another "
        "repository of the same registry holds are mounted, the rest uploaded; the stored "
        "manifest is pushed unchanged. Prints the manifest digest.",
        epilog="examples: hardbox push 127.0.0.1:5000/app:1; "
        "hardbox push app:1 docker://registry.example/team/app:1",
    )
    p.add_argument("local", metavar="LOCAL")
    p.add_argument("dest", metavar="DEST", nargs="?")
    add_tls_argument(p)
    add_json_flag(p, "print {reference, digest, uploaded, mounted, existing}")

    p = add_command(
        subparsers, "login", _login, help="store credentials for a registry",
        description="Check USER and the password against REGISTRY (GET /v2/ with them), then "
        "store them in the containers auth file ($REGISTRY_AUTH_FILE, else "
        "$XDG_RUNTIME_DIR/containers/auth.json, else /run/containers/$UID/auth.json), mode 0600.",
    )
    p.add_argument("registry", metavar="REGISTRY")
    p.add_argument("-u", "--username", metavar="USER")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add_tls_argument(p)

    p = add_command(subparsers, "logout", _logout, help="remove stored credentials for a registry",
                    description="Remove REGISTRY's entry from the containers auth file.")
    p.add_argument("registry", metavar="REGISTRY")


def _session(args: argparse.Namespace) -> Session:
    from hardbox.net import Session

    verify = args.tls_verify == "true"
    return Session(tls_verify=verify, insecure=not verify)


def _pull(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from hardbox.image.formats.platform import Platform
    from hardbox.image.registry import refs
    from hardbox.image.registry.client import connect
    from hardbox.image.registry.pull import pull
    from hardbox.image.store.store import Store

    ref = refs.parse(args.ref)
    platform = Platform.parse(args.platform) if args.platform else None
    client = connect(ref.domain, tls_verify=args.tls_verify == "true")
    wanted = [ref]
    if args.all_tags:
        if ref.digest is not None:
            from hardbox.errors import UsageError

            raise UsageError("--all-tags takes a repository, not a digest reference")
        wanted = [replace(ref, tag=tag) for tag in client.tags(ref.path)]
    store = Store.open()
    results = []
    for item in wanted:
        progress = LayerProgress(str(item))
        try:
            results.append(pull(store, client, item, platform=platform, progress=progress))
        finally:
            progress.finish()
    if args.json:
        print_json([r.to_json() for r in results])
    else:
        for r in results:
            print(f"{r.reference}\n  id:     {r.image.id}\n  digest: {r.manifest_digest}")
    return 0


def _push(args: argparse.Namespace) -> int:
    from hardbox.errors import InvalidReference, UsageError
    from hardbox.image.registry import refs
    from hardbox.image.registry.client import connect
    from hardbox.image.registry.push import push
    from hardbox.image.store.store import Store

    store = Store.open(read_only=True)
    image = store.get(args.local)
    if args.dest is not None:
        dest = refs.parse(args.dest)
    else:
        # LOCAL's own name, only when LOCAL is one of the image's names (not an id).
        try:
            own = str(refs.parse(args.local))
        except InvalidReference:
            own = ""
        if own not in image.tags:
            raise UsageError(f"{args.local!r} is not a name of the image to push to",
                             "give DEST, e.g. hardbox push LOCAL registry.example/app:1")
        dest = refs.parse(own)
    client = connect(dest.domain, tls_verify=args.tls_verify == "true")
    progress = LayerProgress(f"push {dest}", idle="writing the manifest")
    try:
        pushed = push(store, client, image, dest, progress=progress)
    finally:
        progress.finish()
    if args.json:
        print_json(pushed.to_json())
    else:
        print(pushed.digest)
    return 0


def _registry(text: str) -> str:
    from hardbox.errors import UsageError
    from hardbox.image.registry import refs

    key = refs.registry_key(text.removeprefix("docker://"))
    if not key or "/" in key or "@" in key:
        raise UsageError(f"invalid registry {text!r}: expected HOST[:PORT]")
    return key


def _login(args: argparse.Namespace) -> int:
    import getpass

    from hardbox.errors import UsageError
    from hardbox.image.registry.client import RegistryClient
    from hardbox.net.authfile import Credentials, save

    registry = _registry(args.registry)
    user = args.username
    if args.password_stdin:
        if not user:
            raise UsageError("--password-stdin needs -u USER")
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        if not sys.stdin.isatty():
            raise UsageError("no terminal to ask for the password on",
                             "use -u USER --password-stdin")
        user = user or input("Username: ")
        password = getpass.getpass("Password: ")
    if not user or not password:
        raise UsageError("login needs a user name and a password")
    creds = Credentials(user, password)
    RegistryClient(registry, _session(args), creds).ping()
    path = save(registry, creds)
    print(f"Login succeeded: {registry} (credentials in {path})")
    return 0


def _logout(args: argparse.Namespace) -> int:
    from hardbox.errors import UsageError
    from hardbox.net.authfile import auth_file, remove

    registry = _registry(args.registry)
    if not remove(registry):
        raise UsageError(f"not logged in to {registry}",
                         f"no entry for it in {auth_file()}")
    print(f"Removed login credentials for {registry}")
    return 0
