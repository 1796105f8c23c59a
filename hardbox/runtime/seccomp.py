"""Seccomp: compile a profile's policy to BPF with libseccomp and cache it.

``compile_filter(policy, capabilities)`` resolves the Docker-format rules for this container's
capabilities and the host architecture (profile/seccomp_model.py), builds the filter with libseccomp
through ``pyseccomp`` (imported here lazily: the container child never loads it), and caches
the BPF bytes under ``$HARDBOX_ROOT/cache/seccomp/<sha256>.bpf``. Syscall names the host
architecture does not know are skipped, as Docker skips them, and reported.

``install_filter(bpf)``, what the container child calls right before exec, lives in
seccomp_install.py (re-exported here): installing a cached filter imports neither this
module's profile model nor libseccomp.
"""

from __future__ import annotations

import errno
import hashlib
from dataclasses import dataclass
from pathlib import Path

from hardbox.errors import ContainerError, InputError
from hardbox.root import default_root
from hardbox.runtime.profile.seccomp_model import (
    ArgFilter,
    SeccompPolicy,
    SyscallRule,
    native_arch,
)
from hardbox.runtime.seccomp_install import SOCK_FILTER_SIZE, install_filter

__all__ = [
    "CompiledFilter",
    "SeccompPolicy",
    "compile_filter",
    "compile_policy",
    "install_filter",
]

_ERRNO_EPERM = 1
# Part of the cache key: bump when the way a policy becomes BPF changes.
_COMPILER = "libseccomp-optimize-2"
# SCMP_FLTATR_CTL_OPTIMIZE=2: libseccomp sorts the syscall checks into a binary tree, so a
# long allowlist costs O(log n) comparisons per syscall instead of O(n) (seccomp_attr_set(3)).
_OPTIMIZE_BINARY_TREE = 2


@dataclass(frozen=True)
class CompiledFilter:
    """A BPF program ready for ``install_filter``, and what compiling it skipped."""

    bpf: bytes
    digest: str
    skipped: tuple[str, ...]  # syscall names unknown on this architecture
    cached: bool


def default_cache_dir() -> Path:
    """``<store root>/cache/seccomp`` (the store root of docs/architecture.md's shared conventions)."""

    return default_root() / "cache" / "seccomp"


def compile_filter(
    policy: SeccompPolicy,
    capabilities: tuple[str, ...] | frozenset[str] = (),
    *,
    cache_dir: Path | None = None,
) -> bytes:
    """The BPF program for ``policy`` as it applies to a container with ``capabilities``."""
    return compile_policy(policy, capabilities, cache_dir=cache_dir).bpf


def compile_policy(
    policy: SeccompPolicy,
    capabilities: tuple[str, ...] | frozenset[str] = (),
    *,
    cache_dir: Path | None = None,
    arch: str | None = None,
) -> CompiledFilter:
    target = arch or native_arch()
    digest = hashlib.sha256(f"{policy.digest(capabilities, target)}:{_COMPILER}".encode()).hexdigest()
    cache = (cache_dir or default_cache_dir()) / f"{digest}.bpf"
    skipped_note = cache.with_suffix(".skipped")
    try:
        bpf = cache.read_bytes()
        if bpf and len(bpf) % SOCK_FILTER_SIZE == 0:
            skipped = tuple(skipped_note.read_text().split()) if skipped_note.exists() else ()
            return CompiledFilter(bpf, digest, skipped, cached=True)
    except FileNotFoundError:
        pass
    bpf, skipped = _build(policy, policy.resolve(capabilities, target), target)
    try:
        _atomic_write(skipped_note, " ".join(skipped).encode())
        _atomic_write(cache, bpf)
    except OSError:
        # A cache is only a shortcut: a full or read-only store root leaves the filter
        # compiled, not cached, and whatever must be written next fails naming its own file.
        pass
    return CompiledFilter(bpf, digest, skipped, cached=False)


def _build(policy: SeccompPolicy, rules: tuple[SyscallRule, ...], arch: str) -> tuple[bytes, tuple[str, ...]]:
    try:
        import pyseccomp  # only on a cache miss: a cached filter needs no libseccomp
    except (ImportError, OSError) as err:  # OSError: the libseccomp shared library is missing
        raise ContainerError(
            f"seccomp: cannot load libseccomp ({err})",
            hint="install libseccomp2 (Debian) / libseccomp (Fedora), or use a profile with seccomp: unconfined",
        ) from err

    def action(name: str, errno_ret: int | None) -> int:
        if name == "SCMP_ACT_ERRNO":
            return int(pyseccomp.ERRNO(errno_ret if errno_ret is not None else _ERRNO_EPERM))
        return {
            "SCMP_ACT_ALLOW": pyseccomp.ALLOW,
            "SCMP_ACT_KILL": pyseccomp.KILL,
            "SCMP_ACT_KILL_THREAD": pyseccomp.KILL_THREAD,
            "SCMP_ACT_KILL_PROCESS": pyseccomp.KILL_PROCESS,
            "SCMP_ACT_TRAP": pyseccomp.TRAP,
            "SCMP_ACT_LOG": pyseccomp.LOG,
        }[name]

    ops = {
        "SCMP_CMP_NE": pyseccomp.NE,
        "SCMP_CMP_LT": pyseccomp.LT,
        "SCMP_CMP_LE": pyseccomp.LE,
        "SCMP_CMP_EQ": pyseccomp.EQ,
        "SCMP_CMP_GE": pyseccomp.GE,
        "SCMP_CMP_GT": pyseccomp.GT,
        "SCMP_CMP_MASKED_EQ": pyseccomp.MASKED_EQ,
    }
    filt = pyseccomp.SyscallFilter(action(policy.default_action, policy.default_errno_ret))
    try:
        filt.set_attr(pyseccomp.Attr.CTL_OPTIMIZE, _OPTIMIZE_BINARY_TREE)
    except OSError as err:  # libseccomp < 2.5.0 knows no optimizer: the linear filter is correct
        if err.errno != errno.EINVAL:
            raise
    for extra in policy.arches_for(arch):
        arch_value = getattr(pyseccomp.Arch, extra.removeprefix("SCMP_ARCH_"), None)
        if arch_value is not None and not filt.exist_arch(arch_value):
            filt.add_arch(arch_value)
    skipped: list[str] = []
    seen: set[tuple[str, int, tuple[ArgFilter, ...]]] = set()
    for rule in rules:
        rule_action = action(rule.action, rule.errno_ret)
        if rule_action == action(policy.default_action, policy.default_errno_ret) and not rule.args:
            continue  # libseccomp refuses a rule that repeats the default action
        args = [ops_arg(pyseccomp, ops, a) for a in rule.args]
        for name in rule.names:
            key = (name, rule_action, rule.args)
            if key in seen:
                continue
            seen.add(key)
            # __NR_SCMP_ERROR (-1): libseccomp does not know this name on this arch.
            if pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name) == -1:
                skipped.append(name)
                continue
            try:
                filt.add_rule(rule_action, name, *args)
            except OSError as err:
                raise InputError(
                    f"seccomp profile {policy.source}: rule for {name} rejected by libseccomp: {err.strerror}"
                ) from err
    import tempfile  # only on a cache miss; not on `hardbox run`'s usual path

    with tempfile.TemporaryFile() as out:
        filt.export_bpf(out)
        out.seek(0)
        return out.read(), tuple(sorted(set(skipped)))


def ops_arg(pyseccomp: object, ops: dict[str, int], arg: ArgFilter) -> object:
    # Docker's MASKED_EQ puts the mask in `value` and the expected result in `valueTwo`.
    return pyseccomp.Arg(arg.index, ops[arg.op], arg.value, arg.value_two)  # type: ignore[attr-defined]


def _atomic_write(path: Path, data: bytes) -> None:
    # Only on a cache miss; not on `hardbox run`'s usual path.
    from hardbox.atomicfile import atomic_write

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with atomic_write(path) as fh:
        fh.write(data)
