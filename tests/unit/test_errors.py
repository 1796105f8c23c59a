"""``naming_os_errors`` (hardbox/errors.py): an OSError in the block becomes one line naming
the operation and the path, chained to the original; anything else passes unchanged."""

from __future__ import annotations

import errno

import pytest

from hardbox.errors import ContainerError, StoreError, naming_os_errors


def test_an_os_error_becomes_one_line_naming_operation_and_path(tmp_path) -> None:
    missing = tmp_path / "nope" / "file"
    with pytest.raises(StoreError) as caught, naming_os_errors("write", missing):
        missing.write_text("x")
    assert str(caught.value) == f"write `{missing}`: No such file or directory"
    assert isinstance(caught.value.__cause__, FileNotFoundError)
    assert caught.value.__context__ is caught.value.__cause__


def test_the_class_and_the_hint_for_a_full_disk() -> None:
    with pytest.raises(ContainerError) as caught, naming_os_errors("write", "/x", ContainerError):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert caught.value.exit_code == 125
    assert caught.value.hint == "free space on the file system holding it (df) and try again"


def test_write_failures_only_leaves_read_errors_alone() -> None:
    with pytest.raises(PermissionError), naming_os_errors("write", "/x", write_failures_only=True):
        raise PermissionError(errno.EACCES, "Permission denied")
    with pytest.raises(StoreError), naming_os_errors("write", "/x", write_failures_only=True):
        raise OSError(errno.EROFS, "Read-only file system")


def test_other_exceptions_and_a_clean_block_pass_through() -> None:
    with pytest.raises(KeyError), naming_os_errors("write", "/x"):
        raise KeyError("k")
    with naming_os_errors("write", "/x") as value:
        pass
    assert value is None
