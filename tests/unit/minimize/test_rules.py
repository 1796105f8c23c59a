"""Run-time rules on a real Debian minbase root: what glibc and interpreters open by name."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hardbox.minimize.elf import Closure, ElfResolver
from hardbox.minimize.rootview import RootView
from hardbox.minimize.rules import RuleContext, apply_rules, interpreter_of

pytestmark = pytest.mark.root


def _context(root: Path, exes: list[str]) -> RuleContext:
    view = RootView(root)
    resolver = ElfResolver(view)
    closure = resolver.closure(exes, "probe", Closure())
    return RuleContext(view, resolver, closure, user="")


def test_nss_modules_follow_nsswitch(debian_rootfs: Path) -> None:
    ctx = _context(debian_rootfs, ["/usr/bin/getent"])
    kept = apply_rules(ctx).keep
    assert "/etc/nsswitch.conf" in kept
    assert "/usr/lib/x86_64-linux-gnu/libnss_files.so.2" in kept or "/lib/x86_64-linux-gnu/libnss_files.so.2" in kept
    assert any(p.endswith("libnss_dns.so.2") for p in kept)  # `hosts: files dns`
    assert not any(p.endswith("libnss_hesiod.so.2") for p in kept)  # not named
    for path in ("/etc/passwd", "/etc/group", "/tmp"):
        assert path in kept, path
    assert any(r.startswith("rule:accounts") for r in kept["/etc/passwd"])


def test_perl_keeps_its_module_dirs(debian_rootfs: Path) -> None:
    kept = apply_rules(_context(debian_rootfs, ["/usr/bin/perl"])).keep
    assert any(p.endswith("perl-base/POSIX.pm") for p in kept)


def test_gconv_config_only_when_iconv_is_imported(debian_rootfs: Path) -> None:
    kept = apply_rules(_context(debian_rootfs, ["/usr/bin/true"])).keep
    assert not any("/gconv/" in p for p in kept)


def test_shebang_with_env_finds_the_interpreter(tmp_path: Path, debian_rootfs: Path) -> None:
    root = tmp_path / "root"
    (root / "usr/bin").mkdir(parents=True)
    (root / "app").mkdir()
    shutil.copy2(debian_rootfs / "usr/bin/env", root / "usr/bin/env")
    (root / "usr/bin/perl").write_text("")
    (root / "app/run").write_text("#!/usr/bin/env perl\nprint 1;\n")
    (root / "app/sh").write_text("#!/bin/sh -e\necho\n")
    view = RootView(root)
    assert interpreter_of(view, "/app/run") == ["/usr/bin/env", "/usr/bin/perl"]
    assert interpreter_of(view, "/app/sh") == ["/bin/sh"]
    assert interpreter_of(view, "/usr/bin/env") == []


def test_gconv_keeps_configuration_not_every_module(debian_rootfs: Path) -> None:
    kept = apply_rules(_context(debian_rootfs, ["/usr/bin/bash"])).keep  # bash imports iconv_open
    gconv = [p for p in kept if "/gconv/" in p]
    assert any(p.endswith("gconv-modules.cache") for p in gconv)
    assert not any(p.endswith(".so") for p in gconv)
