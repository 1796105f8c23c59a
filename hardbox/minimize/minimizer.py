"""``hardbox minimize``: from a stored image to a smaller one that still passes its probes.

The order, top to bottom: run each probe on the original (the reference), trace it, plan what
to keep (static closure + rules + trace + --keep), write one layer with that and truthful
package databases, store it untagged, run every probe on the result and compare. Only a
result that gives the same exit status and output for every probe gets the tag; otherwise it
is removed again and the result names the paths the failing probe missed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hardbox.errors import HardboxError, UsageError
from hardbox.image.store import importer
from hardbox.image.store.prune import remove
from hardbox.image.store.store import Store
from hardbox.minimize.build import write_layer
from hardbox.minimize.pkgdb import DatabaseEdit, truthful_databases
from hardbox.minimize.plan import Plan, make_plan
from hardbox.minimize.probe import ProbeRun, run_probe, trace_probe
from hardbox.minimize.rootfs import merged_root
from hardbox.minimize.rootview import RootView
from hardbox.scan.scanner import ScanOptions, scan
from hardbox.scan.vulndb import default_db_path

LABEL_SOURCE = "org.hardbox.minimize.source"
LABEL_PROBES = "org.hardbox.minimize.probes"
LABEL_KEEP = "org.hardbox.minimize.keep"


class VerificationFailed(HardboxError):
    """A probe behaved differently on the minimized image; nothing was tagged."""

    exit_code = 1


@dataclass(frozen=True)
class MinimizeOptions:
    tag: str
    probes: tuple[tuple[str, ...], ...] = ()
    keep: tuple[str, ...] = ()
    profile: str = "default"


@dataclass
class ProbeCheck:
    original: ProbeRun
    minimized: ProbeRun | None = None
    missing: list[str] = field(default_factory=list)  # paths it touched that the result lacks

    @property
    def passed(self) -> bool:
        return self.minimized is not None and self.original.same_as(self.minimized)


@dataclass
class MinimizeResult:
    source_id: str
    source_tags: tuple[str, ...]
    before_size: int
    before_files: int
    plan: Plan
    databases: DatabaseEdit
    checks: list[ProbeCheck]
    new_id: str | None = None
    after_size: int = 0
    after_files: int = 0
    tag: str | None = None
    scan_before: dict[str, Any] = field(default_factory=dict)
    scan_after: dict[str, Any] = field(default_factory=dict)

    @property
    def verified(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)


def _count(root: Path) -> tuple[int, int]:
    files = size = 0
    for path in root.rglob("*"):
        if path.is_symlink() or not path.is_file():
            files += 1
            continue
        files += 1
        size += path.lstat().st_size
    return files, size


def minimize(store: Store, ref: str, options: MinimizeOptions,
             say: Callable[[str], None] = lambda _m: None) -> MinimizeResult:
    if any(not argv for argv in options.probes):
        raise UsageError("an empty --probe: each --probe is one command line")
    image = store.get(ref)
    config = image.config
    entry = [*config.entrypoint, *config.cmd]
    commands: list[list[str]] = [entry, *(list(p) for p in options.probes)]
    env_path = next((e.split("=", 1)[1] for e in config.env if e.startswith("PATH=")), None)
    # A locked staging directory: the probes' own `hardbox run` opens the store and cleans
    # every unlocked temporary entry it finds.
    with store.staging() as work:
        checks: list[ProbeCheck] = []
        traced: dict[str, str] = {}
        opened: set[str] = set()
        for index, argv in enumerate(options.probes, 1):
            say(f"probe {index}: tracing {' '.join(argv)}")
            reference = run_probe(image.id, argv, options.profile)
            _, trace = trace_probe(image.id, argv, options.profile, work)
            checks.append(ProbeCheck(reference))
            for path in trace.paths:
                traced.setdefault(path, f"probe {index}")
            opened |= trace.opened
        with merged_root([layer.path for layer in image.layers], work) as root:
            view = RootView(root)
            before_files, before_size = _count(root)
            say("planning what to keep")
            plan = make_plan(view, commands=commands, env_path=env_path, user=config.user,
                             traced=traced, opened=opened, keep=options.keep)
            kept = set(plan.kept)
            databases = truthful_databases(view, kept)
            keep_paths = (kept | databases.keep) - {
                p for p in kept for d in databases.drop if p == d or p.startswith(d + "/")}
            layer_tar = work / "layer.tar"
            after_files, after_size = write_layer(view, keep_paths, layer_tar, overrides=databases.overrides)
            result = MinimizeResult(image.id, image.tags, before_size, before_files, plan, databases,
                                    checks, after_size=after_size, after_files=after_files)
            new_config = _new_config(config.raw, image.id, options)
            say("writing the minimized image")
            new = importer.write_image(store, new_config, [layer_tar], [])
            result.new_id = new.id
            for index, check in enumerate(checks, 1):
                say(f"probe {index}: verifying on the result")
                check.minimized = run_probe(new.id, check.original.argv, options.profile)
                if not check.passed:
                    # What the failing run reached for that the original has and the result lacks.
                    _, trace = trace_probe(new.id, check.original.argv, options.profile, work)
                    check.missing = sorted(
                        p for p in trace.paths
                        if (found := view.resolve(p)).exists and found.path not in keep_paths)
        if checks and not result.verified:
            remove(store, new.id)
            result.new_id = None
            return result
        importer.tag(store, new.id, options.tag)
        result.tag = options.tag
    say("scanning the original and the result")
    result.scan_before = scan_summary(store, image.id)
    result.scan_after = scan_summary(store, new.id)
    return result


def scan_summary(store: Store, image_id: str) -> dict[str, Any]:
    """Packages and vulnerabilities of an image, as ``hardbox scan`` sees them (with the
    store's vulnerability database when one has been imported)."""

    db = default_db_path()
    result = scan(store.get(image_id), db if db.exists() else None, ScanOptions(secrets=False))
    vulns = sorted({f"{f.id} {f.package}" for f in result.findings if f.kind.value == "vulnerability"})
    return {"packages": sorted(f"{p.ecosystem}:{p.name}" for p in result.packages),
            "vulnerabilities": vulns, "vulnerability_db": result.vuln_db is not None,
            "findings": len(result.findings)}


def _new_config(raw: dict[str, Any], source_id: str, options: MinimizeOptions) -> dict[str, Any]:
    """The original config (entrypoint, env, user, labels…) with one layer and our labels."""
    config = json.loads(json.dumps(raw))
    inner = config.setdefault("config", {})
    labels = dict(inner.get("Labels") or {})
    labels[LABEL_SOURCE] = source_id
    labels[LABEL_PROBES] = json.dumps([list(p) for p in options.probes])
    if options.keep:
        labels[LABEL_KEEP] = json.dumps(list(options.keep))
    inner["Labels"] = labels
    config["history"] = [{
        "created": config.get("created", "1970-01-01T00:00:00Z"),
        "created_by": f"hardbox minimize (from {source_id})",
    }]
    config["rootfs"] = {"type": "layers", "diff_ids": []}
    return config


def describe_missing(checks: Sequence[ProbeCheck]) -> str:
    lines = []
    for index, check in enumerate(checks, 1):
        if check.passed or check.minimized is None:
            continue
        o, m = check.original, check.minimized
        lines.append(f"probe {index} ({' '.join(o.argv)}): exit {o.status} -> {m.status}")
        for stream, before, after in (("stdout", o.stdout, m.stdout), ("stderr", o.stderr, m.stderr)):
            if before != after:
                lines.append(f"  {stream} differs: {before[-200:]!r} -> {after[-200:]!r}")
        if check.missing:
            lines.append("  missing from the result: " + ", ".join(check.missing[:20]))
    return "\n".join(lines)
