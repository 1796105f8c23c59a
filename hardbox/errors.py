"""The one error root of hardbox.

Every failure a user can cause or fix is a ``HardboxError``: a one-line message that names
the operation and the file or entry, a hint saying what to do next, and the exit code the
CLI returns (docs/architecture.md, "Shared conventions"). The CLI catches only this root; anything else
is a bug and shows its traceback.
"""

from __future__ import annotations

import errno

TYPE_CHECKING = False  # typing's own name would load typing: imported by every command
if TYPE_CHECKING:
    from types import TracebackType


class HardboxError(Exception):
    """Base of every user-facing error. ``exit_code`` follows the shared conventions."""

    exit_code = 2
    default_hint = ""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint

    def __str__(self) -> str:
        return self.message


class UsageError(HardboxError):
    """The command line itself is wrong."""

    default_hint = "see --help"


class InputError(HardboxError):
    """An input the user named (archive, layout, profile, policy, database) is unusable."""


class ImageNotFound(HardboxError):
    default_hint = "list stored images with `hardbox image ls`, or import one with `hardbox image import PATH`"


class InvalidImage(InputError):
    """An image, manifest, config or layer failed validation."""


class InvalidReference(UsageError):
    """A string that should name an image does not parse as a reference."""


class StoreError(HardboxError):
    """The store itself is damaged or cannot be written."""


class ContainerError(HardboxError):
    """hardbox could not start the container (Docker's 125)."""

    exit_code = 125


class CommandNotExecutable(ContainerError):
    exit_code = 126


class CommandNotFound(ContainerError):
    exit_code = 127


class PolicyFailed(HardboxError):
    """A gate policy or --fail-on threshold was not met (exit 1)."""

    exit_code = 1


# A write that fails for want of room (or a read-only or over-quota file system) is the
# writer's problem, never the input's: a full disk must not read as "a corrupt archive".
_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})


def is_write_failure(err: BaseException) -> bool:
    return isinstance(err, OSError) and err.errno in _WRITE_ERRNOS


def write_failed(operation: str, path: object, err: OSError,
                 cls: type[HardboxError] = StoreError) -> HardboxError:
    """``write `/x/y`: No space left on device``, crun style: the operation, the path (the
    one the user can act on, not a temporary name), the system's reason."""
    hint = ("free space on the file system holding it (df) and try again"
            if err.errno in (errno.ENOSPC, errno.EDQUOT) else None)
    return cls(f"{operation} `{path}`: {err.strerror or err}", hint)


class naming_os_errors:  # lower case: a context manager, named as the function it replaced
    """Turn an ``OSError`` inside the block into one line naming ``operation`` and ``path``
    (only a full, over-quota or read-only file system with ``write_failures_only``: a block
    that also reads leaves its read errors to their own handlers).

    A class rather than ``contextlib.contextmanager``: every command imports this module,
    and contextlib (with functools and collections) is a few milliseconds of ``hardbox
    run``'s start-up (bench/RESULTS.md, issue 14)."""

    __slots__ = ("cls", "operation", "path", "write_failures_only")

    def __init__(self, operation: str, path: object, cls: type[HardboxError] = StoreError, *,
                 write_failures_only: bool = False) -> None:
        self.operation = operation
        self.path = path
        self.cls = cls
        self.write_failures_only = write_failures_only

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None,
                 _tb: TracebackType | None) -> None:
        if not isinstance(err, OSError):
            return  # nothing, or not an OSError: it goes on as it was
        if self.write_failures_only and not is_write_failure(err):
            return
        raise write_failed(self.operation, self.path, err, self.cls) from err
