"""Fuzz the words a user types: image references and transports (`image inspect`, `scan`)
and `hardbox run`'s options (`run --explain`, which parses and resolves everything a start
would, profile and image included, without starting a container). `run` reports its own
failures as 125 (DESIGN.md, exit codes)."""

from __future__ import annotations

from pathlib import Path

import fuzzkit
import pytest
from hypothesis import given
from hypothesis import strategies as st
from storecheck import assert_consistent

pytestmark = [pytest.mark.fuzz]

REF_CHARS = st.sampled_from([*list("abcxyz019-_.:/@+"), "sha256:", "docker.io/", "library/", "..", "%", "\x00", " ", "A", "é", "latest"])
REFERENCES = st.one_of(
    st.lists(REF_CHARS, max_size=12).map("".join),
    st.sampled_from(["tiny", "tiny:latest", "docker.io/library/tiny:latest", "tiny@sha256:" + "0" * 64,
                     "sha256:", "a" * 300, ":", "@", "localhost:5000/tiny", "TINY", "tiny:" + "t" * 200]),
    st.text(max_size=20),
)
TRANSPORTS = st.sampled_from(["", "docker-archive:", "oci:", "oci-archive:", "dir:", "docker://", "oci:/:"])
PATHS = st.sampled_from(["", "/", "/dev/null", "/proc/self/status", "/etc/passwd", "/nonexistent",
                         ".", "..", "/tmp", "x:y:z"])


def test_references(store_root: Path, stored_tiny: str) -> None:
    @fuzzkit.fuzz_settings(2)
    @given(ref=st.one_of(REFERENCES, st.tuples(TRANSPORTS, PATHS).map("".join)))
    def one(ref: str) -> None:
        if ref.startswith("-") or "\x00" in ref:
            ref = "x" + ref.replace("\x00", "")  # argv cannot hold NUL; options are not refs
        fuzzkit.check("image reference", fuzzkit.run_cli(["image", "inspect", ref], root=store_root))
        assert_consistent(store_root)

    one()


OPTIONS = st.one_of(
    st.tuples(st.just("-e"), st.sampled_from(["A=1", "A", "=x", "", "PATH=", "A=" + "x" * 5000])),
    st.tuples(st.just("-u"), st.sampled_from(["0", "1000", "user", "nobody", "x:y", "-1", "4294967296",
                                              "1000:1000", ":", "root:nogroup", ""])),
    st.tuples(st.just("-w"), st.sampled_from(["/", "/tmp", "relative", "", "/../..", "/a/../../b"])),
    st.tuples(st.just("-v"), st.sampled_from(["/tmp:/mnt", "/tmp:/mnt:rw", "/tmp:/mnt:xx", ":", "/tmp",
                                              "/nonexistent:/x", "/tmp:/proc", "/tmp:relative", "/tmp:/sys/x",
                                              "/tmp:/dev", "/tmp:/:ro"])),
    st.tuples(st.just("--entrypoint"), st.sampled_from(["", "/bin/sh", "x y", "[\"a\"]"])),
    st.tuples(st.just("--name"), st.sampled_from(["ok", "", "a/b", "..", "x" * 300, "-x", "ü"])),
    st.tuples(st.just("--hostname"), st.sampled_from(["h", "", "x" * 300, "a b", "-"])),
    st.tuples(st.just("--network"), st.sampled_from(["none", "private", "host", "bridge", ""])),
    st.tuples(st.just("--memory"), st.sampled_from(["256m", "0", "-1", "1e99", "m", "9" * 30, "1.5g", "10x"])),
    st.tuples(st.just("--pids-limit"), st.sampled_from(["1", "0", "-1", "abc", "9" * 30])),
    st.tuples(st.just("--cpus"), st.sampled_from(["0.5", "0", "-1", "nan", "inf", "1e-9", "x"])),
    st.tuples(st.just("--cap-add"), st.sampled_from(["NET_ADMIN", "CAP_SYS_ADMIN", "ALL", "", "bogus", "cap_chown"])),
    st.tuples(st.just("--cap-drop"), st.sampled_from(["ALL", "CHOWN", "", "bogus"])),
    st.tuples(st.just("--profile"), st.sampled_from(["default", "strict", "nonexistent", "", "/dev/null",
                                                     "/etc/passwd", "../strict"])),
    st.sampled_from([("--read-only",), ("--rm",), ("--init",), ("-i",), ("--json",), ("--bogus",), ("-d",)]),
)


def test_run_options(store_root: Path, stored_tiny: str) -> None:
    @fuzzkit.fuzz_settings(2)
    @given(options=st.lists(OPTIONS, max_size=5), image=st.sampled_from([stored_tiny, "nonexistent", "", "-"]))
    def one(options: list[tuple[str, ...]], image: str) -> None:
        argv = ["run", "--explain", *[word for option in options for word in option], image, "/bin/true"]
        fuzzkit.check("run options", fuzzkit.run_cli(argv, root=store_root), allowed=(0, 125))
        assert_consistent(store_root)

    one()
