"""`hardbox logs -f` and `--tail N` on a real detached container; `-d -it` stays refused."""

from __future__ import annotations

import time

import pytest
from helpers.hbrun import RunStore, make_store

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def store(busybox_layout, tmp_path_factory) -> RunStore:
    return make_store(tmp_path_factory.mktemp("logs") / "store", busybox_layout.ref)


def test_follow_prints_until_the_container_exits(store: RunStore) -> None:
    start = store.hardbox("run", "-d", "--name", "talker", "bbtest",
                          "sh", "-c", "echo one; sleep 1.5; echo two >&2; sleep 0.5; echo three")
    assert start.returncode == 0, start.stderr
    try:
        follow = store.hardbox("logs", "-f", "talker", timeout=30)
        assert follow.returncode == 0, follow.stderr
        # It waited for the container: the lines written 1.5 and 2 s after the first are there
        # (no timing asserted: the run's timeout catches a follow that never ends).
        assert follow.stdout == "one\ntwo\nthree\n"
        # Once it has exited, -f ends at once, and --tail counts lines from the end.
        assert store.hardbox("logs", "-f", "--tail", "2", "talker", timeout=10).stdout == "two\nthree\n"
        assert store.hardbox("logs", "--tail", "1", "talker").stdout == "three\n"
        assert store.hardbox("logs", "-n", "0", "talker").stdout == ""
        assert store.hardbox("logs", "--tail", "all", "talker").stdout == "one\ntwo\nthree\n"
    finally:
        store.hardbox("rm", "-f", "talker")


def test_tail_follow_starts_from_the_last_lines_of_a_running_container(store: RunStore) -> None:
    start = store.hardbox("run", "-d", "--name", "ticker", "bbtest",
                          "sh", "-c", "for i in 1 2 3 4; do echo $i; done; sleep 1; echo 5")
    assert start.returncode == 0, start.stderr
    try:
        time.sleep(0.5)
        follow = store.hardbox("logs", "--tail", "1", "-f", "ticker", timeout=30)
        assert follow.stdout == "4\n5\n"
    finally:
        store.hardbox("rm", "-f", "ticker")


def test_bad_tail_and_detached_terminal_are_refused(store: RunStore) -> None:
    bad = store.hardbox("logs", "--tail", "-3", "x")
    assert bad.returncode == 2 and "usage: hardbox logs" in bad.stderr
    refused = store.hardbox("run", "-d", "-it", "bbtest", "sh")
    assert refused.returncode == 125
    assert "-d cannot be combined with -t or -i" in refused.stderr
