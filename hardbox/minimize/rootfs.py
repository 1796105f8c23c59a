"""The merged root filesystem of a stored image, read-only, for the minimizer to read.

A one-layer image is its layer directory. More layers are merged by the kernel: a read-only
overlayfs over the layer directories (they are overlay lower dirs already, whiteouts
included), mounted in a temporary directory and unmounted afterwards.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from hardbox.errors import HardboxError
from hardbox.runtime import syscalls

_MAX_OPTIONS = 4000  # mount(2) option data is one page


@contextmanager
def merged_root(layer_dirs: Sequence[Path], scratch: Path) -> Iterator[Path]:
    """Yield a directory showing the merged image (``layer_dirs`` oldest first)."""
    if len(layer_dirs) == 1:
        yield layer_dirs[0]
        return
    if not layer_dirs:
        raise HardboxError("the image has no layers to minimize")

    lower = ":".join(str(d) for d in reversed(layer_dirs))
    options = f"lowerdir={lower}"
    if len(options) > _MAX_OPTIONS:
        raise HardboxError(f"{len(layer_dirs)} layers are too many to merge with one overlay mount",
                           hint="flatten the image first (export and re-import it)")
    target = Path(tempfile.mkdtemp(prefix="merged-", dir=scratch))
    syscalls.mount("overlay", target, "overlay", syscalls.MS_RDONLY, options)
    try:
        yield target
    finally:
        syscalls.umount2(target, 2)  # MNT_DETACH: a reader still inside must not block us
        os.rmdir(target)
