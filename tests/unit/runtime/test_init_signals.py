"""runtime/init.FORWARDED, computed from _signal (run and exec load no signal.py), is the set
signal.py's enums gave: every named signal a process may catch, except SIGCHLD."""

from __future__ import annotations

import signal

from hardbox.runtime.init import FORWARDED


def test_forwarded_signals_are_the_named_catchable_ones() -> None:
    wanted = {s for s in signal.valid_signals()
              if s not in (signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD) and isinstance(s, signal.Signals)}
    assert set(FORWARDED) == {int(s) for s in wanted}
    assert len(FORWARDED) == len(set(FORWARDED))
    assert signal.SIGTERM in FORWARDED and signal.SIGRTMIN in FORWARDED and signal.SIGCHLD not in FORWARDED
