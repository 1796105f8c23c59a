"""Fuzz the rpm database readers through ``hardbox sbom dir:PATH``: the ndb fixture (written
by rpm's own rpmpkg.c, tests/fixtures/rpmdb) and a Berkeley DB hash file libdb writes from
the same header blobs, damaged byte-wise and by overwriting random 16/32-bit words with the
values that break offset arithmetic (0, 1, page and block counts, 0xFFFF, 0xFFFFFFFF). A
damaged database is data: the SBOM is still written (exit 0) with the cataloger's status
saying partial or failed; never a traceback, a hang or a runaway allocation."""

from __future__ import annotations

import itertools
import struct
from pathlib import Path

import fuzzkit
import mutate
import pytest
from helpers import rpmdb
from hypothesis import given
from hypothesis import strategies as st

pytestmark = [pytest.mark.fuzz]

_counter = itertools.count()
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures/rpmdb/ndb"
WORDS = st.sampled_from([0, 1, 2, 3, 7, 13, 16, 26, 0x7F, 0xFFFF, 0x10000, 0x7FFFFFFF, 0xFFFFFFFF])


@st.composite
def overwritten(draw: st.DrawFn, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 6))):
        fmt = draw(st.sampled_from(["<H", "<I", ">I"]))
        at = draw(st.integers(0, len(out) - struct.calcsize(fmt)))
        value = draw(WORDS) & (0xFFFF if fmt == "<H" else 0xFFFFFFFF)
        struct.pack_into(fmt, out, at, value)
    return bytes(out)


def damaged(data: bytes) -> st.SearchStrategy[bytes]:
    return st.one_of(overwritten(data), mutate.damaged_bytes(data))


def bdb_file(tmp_path: Path) -> bytes:
    pytest.importorskip("berkeleydb", reason="the dev extra's berkeleydb binding (libdb-dev)")
    blobs = rpmdb.header_blobs(FIXTURE / "rpmdb.sqlite")
    return rpmdb.bdb_packages(blobs, tmp_path / "seed-Packages", page_size=512).read_bytes()


@pytest.mark.parametrize("kind", ["ndb", "bdb"])
def test_damaged_rpm_databases(kind: str, tmp_path: Path, store_root: Path) -> None:
    if kind == "ndb":
        seed, rel = (FIXTURE / "Packages.db").read_bytes(), "usr/lib/sysimage/rpm/Packages.db"
    else:
        seed, rel = bdb_file(tmp_path), "var/lib/rpm/Packages"

    @fuzzkit.fuzz_settings()
    @given(data=damaged(seed))
    def one(data: bytes) -> None:
        root = tmp_path / f"root-{next(_counter)}"
        (root / rel).parent.mkdir(parents=True)
        (root / rel).write_bytes(data)
        out = fuzzkit.run_cli(["sbom", f"dir:{root}", "-o", str(tmp_path / "out.json")], root=store_root)
        fuzzkit.check(f"rpm {kind}", out, allowed=(0,))

    one()
