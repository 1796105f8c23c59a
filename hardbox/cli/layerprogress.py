"""Per-layer progress of a pull or push: one stderr line, on a terminal only (quiet in CI).

Shared by ``hardbox pull``/``push`` and by every command that pulls on demand (``--pull``).
"""

from __future__ import annotations

import sys
import threading
import time

from hardbox.cli.output import human_size, stderr_is_tty


class LayerProgress:
    """Per-layer bytes on one stderr line, on a terminal only (quiet in CI)."""

    def __init__(self, label: str, idle: str = "unpacking") -> None:
        self.label = label
        self.idle = idle  # what is shown once no blob is in flight
        self.enabled = stderr_is_tty()
        self.layers: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()
        self._shown = 0.0

    def __call__(self, digest: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        with self._lock:
            self.layers[digest] = (done, total)
            now = time.monotonic()
            if now - self._shown < 0.1 and done != total:
                return
            self._shown = now
            parts = [f"{d[7:19]} {human_size(n)}/{human_size(t)}"
                     for d, (n, t) in self.layers.items() if n < t]
            text = f"{self.label}: " + ("; ".join(parts) or self.idle)
            sys.stderr.write("\r\033[K" + text[:150])
            sys.stderr.flush()

    def finish(self) -> None:
        if self.enabled and self.layers:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
