"""ld.so.cache parsing, checked against glibc's own ``ldconfig -p`` on a real Debian cache."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from hardbox.minimize import ldcache


def _ldconfig_listing(cache: Path) -> list[tuple[str, str]]:
    out = subprocess.run(["ldconfig", "-p", "-C", str(cache)], capture_output=True, text=True, check=True)
    pairs = []
    for line in out.stdout.splitlines()[1:]:
        m = re.match(r"\s+(\S+) \(([^)]*)\) => (\S+)", line)
        if m:
            pairs.append((m.group(1), m.group(3)))
    return pairs


@pytest.mark.root
def test_parses_the_real_debian_cache_like_ldconfig(debian_rootfs: Path) -> None:
    cache = debian_rootfs / "etc/ld.so.cache"
    entries = ldcache.load(cache)
    assert [(e.soname, e.path) for e in entries] == _ldconfig_listing(cache)
    libc = ldcache.lookup(entries, "libc.so.6", ldcache.ARCH_FLAGS["x86-64"])
    assert libc == "/lib/x86_64-linux-gnu/libc.so.6"
    assert ldcache.lookup(entries, "libc.so.6", ldcache.ARCH_FLAGS["aarch64"]) is None


def test_missing_cache_is_empty(tmp_path: Path) -> None:
    assert ldcache.load(tmp_path / "nope") == []


@pytest.mark.root
@pytest.mark.parametrize(
    "damage",
    ["bad-magic", "truncated-header", "too-many-entries", "offset-outside", "unterminated"],
)
def test_damaged_caches_are_errors_not_crashes(debian_rootfs: Path, damage: str) -> None:
    data = bytearray((debian_rootfs / "etc/ld.so.cache").read_bytes())
    if damage == "bad-magic":
        data[0:5] = b"XXXXX"
    elif damage == "truncated-header":
        data = data[:30]
    elif damage == "too-many-entries":
        data[20:24] = (10**8).to_bytes(4, "little")
    elif damage == "offset-outside":
        data[52:56] = (len(data) + 100).to_bytes(4, "little")  # first entry's key
    elif damage == "unterminated":
        data = data.rstrip(b"\0")
        data[52:56] = (len(data) - 3).to_bytes(4, "little")
    with pytest.raises(ldcache.LdCacheError) as err:
        ldcache.parse(bytes(data), "img:/etc/ld.so.cache")
    assert "img:/etc/ld.so.cache" in str(err.value)
