"""The Docker/OCI seccomp JSON model: parsed, validated, and resolved as Docker resolves it.

``SeccompPolicy.from_json`` parses a Docker-format profile (the format of moby's
``profiles/seccomp/default.json``: ``defaultAction``, ``defaultErrnoRet``, ``archMap``,
``syscalls[]`` with ``includes``/``excludes`` on capabilities and architectures) into a frozen
model; ``policy.resolve(capabilities, arch)`` picks the rules that apply, as Docker does.
Compiling and installing live in ``seccomp.py``; this module has no dependency beyond stdlib.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hardbox.errors import InputError
from hardbox.named_input import require_file_or_dir

# Docker action names -> what they mean; SCMP_ACT_TRACE/NOTIFY need a tracer/agent we lack.
ACTIONS = frozenset(
    {
        "SCMP_ACT_ALLOW",
        "SCMP_ACT_ERRNO",
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_TRAP",
        "SCMP_ACT_LOG",
    }
)
OPERATORS = frozenset(
    {
        "SCMP_CMP_NE",
        "SCMP_CMP_LT",
        "SCMP_CMP_LE",
        "SCMP_CMP_EQ",
        "SCMP_CMP_GE",
        "SCMP_CMP_GT",
        "SCMP_CMP_MASKED_EQ",
    }
)

# os.uname().machine -> the libseccomp/Docker architecture name.
_MACHINE_TO_ARCH = {
    "x86_64": "SCMP_ARCH_X86_64",
    "aarch64": "SCMP_ARCH_AARCH64",
    "i686": "SCMP_ARCH_X86",
    "i386": "SCMP_ARCH_X86",
    "armv7l": "SCMP_ARCH_ARM",
    "ppc64le": "SCMP_ARCH_PPC64LE",
    "s390x": "SCMP_ARCH_S390X",
    "riscv64": "SCMP_ARCH_RISCV64",
}
# Docker's profile `includes.arches` uses Go's GOARCH names.
_ARCH_TO_GOARCH = {
    "SCMP_ARCH_X86_64": ("amd64", "x32"),
    "SCMP_ARCH_X86": ("386",),
    "SCMP_ARCH_AARCH64": ("arm64",),
    "SCMP_ARCH_ARM": ("arm",),
    "SCMP_ARCH_PPC64LE": ("ppc64le",),
    "SCMP_ARCH_S390X": ("s390x",),
    "SCMP_ARCH_RISCV64": ("riscv64",),
}


def native_arch() -> str:
    """The host's architecture in libseccomp spelling (``SCMP_ARCH_X86_64``)."""
    return _MACHINE_TO_ARCH.get(os.uname().machine, "SCMP_ARCH_NATIVE")


@dataclass(frozen=True)
class ArgFilter:
    """One argument comparison: ``args[index] op value`` (``valueTwo`` for MASKED_EQ)."""

    index: int
    value: int
    op: str
    value_two: int = 0

    @classmethod
    def from_json(cls, raw: Any, where: str) -> ArgFilter:
        if not isinstance(raw, dict):
            raise InputError(f"{where}: an argument filter must be an object")
        index, value, op = raw.get("index"), raw.get("value"), raw.get("op")
        value_two = raw.get("valueTwo", 0)
        # The kernel hands seccomp six 64-bit arguments (struct seccomp_data.args[6]).
        if not isinstance(index, int) or not 0 <= index <= 5:
            raise InputError(f"{where}: args.index must be an integer 0..5, got {index!r}")
        for label, number in (("value", value), ("valueTwo", value_two)):
            if not isinstance(number, int) or not 0 <= number < 2**64:
                raise InputError(f"{where}: args.{label} must be an unsigned 64-bit integer")
        if op not in OPERATORS:
            raise InputError(f"{where}: args.op {op!r} is not one of {sorted(OPERATORS)}")
        return cls(index=index, value=int(value or 0), op=str(op), value_two=int(value_two))

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "value": self.value, "valueTwo": self.value_two, "op": self.op}


@dataclass(frozen=True)
class Condition:
    """Docker's ``includes``/``excludes``: capabilities, GOARCH names, minimum kernel."""

    caps: tuple[str, ...] = ()
    arches: tuple[str, ...] = ()
    min_kernel: str = ""

    @classmethod
    def from_json(cls, raw: Any, where: str) -> Condition:
        if raw is None:
            return cls()
        if not isinstance(raw, dict):
            raise InputError(f"{where} must be an object")
        caps = _strings(raw.get("caps", []), f"{where}.caps")
        arches = _strings(raw.get("arches", []), f"{where}.arches")
        min_kernel = raw.get("minKernel", "")
        if not isinstance(min_kernel, str):
            raise InputError(f"{where}.minKernel must be a string")
        return cls(caps=caps, arches=arches, min_kernel=min_kernel)

    def is_empty(self) -> bool:
        return not (self.caps or self.arches or self.min_kernel)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.caps:
            out["caps"] = list(self.caps)
        if self.arches:
            out["arches"] = list(self.arches)
        if self.min_kernel:
            out["minKernel"] = self.min_kernel
        return out


@dataclass(frozen=True)
class SyscallRule:
    """One ``syscalls[]`` entry: these names get this action (when the args match)."""

    names: tuple[str, ...]
    action: str
    errno_ret: int | None = None
    args: tuple[ArgFilter, ...] = ()
    includes: Condition = field(default_factory=Condition)
    excludes: Condition = field(default_factory=Condition)
    comment: str = ""

    @classmethod
    def from_json(cls, raw: Any, where: str) -> SyscallRule:
        if not isinstance(raw, dict):
            raise InputError(f"{where} must be an object")
        names = raw.get("names")
        if names is None and "name" in raw:  # the older single-name spelling
            names = [raw["name"]]
        names_t = _strings(names, f"{where}.names")
        if not names_t:
            raise InputError(f"{where}.names must name at least one syscall")
        action, errno_ret = _action(raw, "action", "errnoRet", f"{where}.")
        args_raw = raw.get("args") or []
        if not isinstance(args_raw, list):
            raise InputError(f"{where}.args must be a list")
        args = tuple(ArgFilter.from_json(a, f"{where}.args[{i}]") for i, a in enumerate(args_raw))
        return cls(
            names=names_t,
            action=action,
            errno_ret=errno_ret,
            args=args,
            includes=Condition.from_json(raw.get("includes"), f"{where}.includes"),
            excludes=Condition.from_json(raw.get("excludes"), f"{where}.excludes"),
            comment=str(raw.get("comment", "")),
        )

    def applies(self, capabilities: frozenset[str], arch: str, kernel: tuple[int, ...]) -> bool:
        """Docker's rule selection (moby profiles/seccomp/seccomp.go): every include must
        hold, no exclude may."""
        goarch = _ARCH_TO_GOARCH.get(arch, ())
        inc, exc = self.includes, self.excludes
        if inc.caps and not all(c in capabilities for c in inc.caps):
            return False
        if inc.arches and not any(a in goarch for a in inc.arches):
            return False
        if inc.min_kernel and kernel < _kernel_tuple(inc.min_kernel):
            return False
        if exc.caps and any(c in capabilities for c in exc.caps):
            return False
        return not (exc.arches and any(a in goarch for a in exc.arches))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"names": list(self.names), "action": self.action}
        if self.errno_ret is not None:
            out["errnoRet"] = self.errno_ret
        if self.args:
            out["args"] = [a.to_json() for a in self.args]
        if not self.includes.is_empty():
            out["includes"] = self.includes.to_json()
        if not self.excludes.is_empty():
            out["excludes"] = self.excludes.to_json()
        if self.comment:
            out["comment"] = self.comment
        return out


@dataclass(frozen=True)
class SeccompPolicy:
    """A parsed Docker-format seccomp profile. ``source`` names the file it came from."""

    default_action: str
    default_errno_ret: int | None
    architectures: tuple[str, ...]
    syscalls: tuple[SyscallRule, ...]
    source: str = ""
    arch_map: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def arches_for(self, native: str) -> tuple[str, ...]:
        """The architectures a filter for ``native`` covers (moby seccomp.go: an explicit
        ``architectures`` list wins, else the ``archMap`` entry of the native arch)."""
        if self.architectures:
            return self.architectures
        for arch, subs in self.arch_map:
            if arch == native:
                return (arch, *subs)
        return (native,)

    @classmethod
    def from_json(cls, raw: Any, source: str) -> SeccompPolicy:
        if not isinstance(raw, dict):
            raise InputError(f"{source}: a seccomp profile must be a JSON object")
        action, errno_ret = _action(raw, "defaultAction", "defaultErrnoRet", f"{source}: ")
        arches = _strings(raw.get("architectures") or [], f"{source}: architectures")
        arch_map_raw = raw.get("archMap") or []
        if not isinstance(arch_map_raw, list):
            raise InputError(f"{source}: archMap must be a list")
        arch_map: list[tuple[str, tuple[str, ...]]] = []
        for i, entry in enumerate(arch_map_raw):
            if not isinstance(entry, dict) or not isinstance(entry.get("architecture"), str):
                raise InputError(f"{source}: archMap[{i}].architecture must be a string")
            subs = _strings(entry.get("subArchitectures") or [], f"{source}: archMap[{i}]")
            arch_map.append((entry["architecture"], subs))
        rules_raw = raw.get("syscalls") or []
        if not isinstance(rules_raw, list):
            raise InputError(f"{source}: syscalls must be a list")
        rules = tuple(
            SyscallRule.from_json(r, f"{source}: syscalls[{i}]") for i, r in enumerate(rules_raw)
        )
        return cls(action, errno_ret, arches, rules, source, tuple(arch_map))

    @classmethod
    def load(cls, path: Path) -> SeccompPolicy:
        require_file_or_dir(path, "seccomp profile")
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except OSError as err:
            raise InputError(f"read seccomp profile {path}: {err.strerror}") from err
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise InputError(f"seccomp profile {path}: not valid JSON ({err})") from err
        return cls.from_json(raw, str(path))

    def to_json(self) -> dict[str, Any]:
        """Docker's format again (what `hardbox profile export --format docker` writes)."""
        out: dict[str, Any] = {"defaultAction": self.default_action}
        if self.default_errno_ret is not None:
            out["defaultErrnoRet"] = self.default_errno_ret
        if self.architectures:
            out["architectures"] = list(self.architectures)
        if self.arch_map:
            out["archMap"] = [
                {"architecture": arch, "subArchitectures": list(subs)} for arch, subs in self.arch_map
            ]
        out["syscalls"] = [r.to_json() for r in self.syscalls]
        return out

    def resolve(
        self, capabilities: tuple[str, ...] | frozenset[str], arch: str | None = None
    ) -> tuple[SyscallRule, ...]:
        """The rules that apply to a container with these capabilities on this arch."""
        caps = frozenset(capabilities)
        kernel = _kernel_tuple(os.uname().release)
        target = arch or native_arch()
        return tuple(r for r in self.syscalls if r.applies(caps, target, kernel))

    def digest(self, capabilities: tuple[str, ...] | frozenset[str], arch: str) -> str:
        """Content hash of what the compiled filter depends on (the cache key)."""
        payload = json.dumps(
            {"policy": self.to_json(), "caps": sorted(capabilities), "arch": arch},
            sort_keys=True,
        )
        return hashlib.sha256(payload.encode()).hexdigest()


def _action(raw: dict[str, Any], key: str, errno_key: str, where: str) -> tuple[str, int | None]:
    """An action and its optional errno (a rule's or the profile's default), checked."""
    action = raw.get(key)
    if action not in ACTIONS:
        raise InputError(f"{where}{key} {action!r} is not one of {sorted(ACTIONS)}")
    errno_ret = raw.get(errno_key)
    if errno_ret is not None and (not isinstance(errno_ret, int) or not 0 < errno_ret < 4096):
        raise InputError(f"{where}{errno_key} must be an errno number 1..4095")
    return action, errno_ret


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"{where} must be a list of strings")
    return tuple(value)


def _kernel_tuple(release: str) -> tuple[int, ...]:
    parts: list[int] = []
    for piece in release.split("-", 1)[0].split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)
