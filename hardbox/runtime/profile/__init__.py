"""The profile side of the runtime, as runc's ``configs/`` and ``specconv/`` are: the
hardening profile's model, loading and cache, the run options that adjust it, and what is
derived from it (seccomp policy, OCI bundle, SELinux CIL, ``--explain``). The kernel-side
modules that apply a profile stay in ``hardbox/runtime/``."""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy reads it as True)
if TYPE_CHECKING:
    import re

    NAME: re.Pattern[str]

# A shipped profile or seccomp policy is named by this; anything else is a file path.
# ``NAME`` is compiled on first use (module __getattr__ below): a cached `hardbox run` asks
# is_shipped_name before anything needs `re`, so that holds the same rule in str methods
# (runtime/plan_cache.py; tests/unit/runtime/test_profile_name.py checks the two agree).
NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
_FIRST = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_REST = _FIRST | frozenset("._-")


def is_shipped_name(name_or_path: str) -> bool:
    """Whether ``--profile`` names a shipped profile (policies/profiles/NAME.yaml) rather
    than a file (load.locate; the run plan cache keys the two apart: plan_cache.py)."""
    # NAME.match: its "$" also matches before one final newline.
    name = name_or_path[:-1] if name_or_path.endswith("\n") else name_or_path
    named = 0 < len(name) <= 64 and name[0] in _FIRST and all(c in _REST for c in name[1:])
    return named and not name_or_path.endswith((".yaml", ".yml"))


def __getattr__(name: str) -> object:
    if name == "NAME":
        import re

        compiled = re.compile(NAME_PATTERN)
        globals()["NAME"] = compiled
        return compiled
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
