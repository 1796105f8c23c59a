"""The device allow-list every container hardbox starts as root gets, and its two encoders.

One list (``ALLOWED_DEVICES``), written two ways, as runc does:

* cgroup v1: the ``devices`` controller. ``a`` to ``devices.deny`` empties the cgroup's
  list (nothing may be opened or made), then one ``devices.allow`` write per rule.
* cgroup v2 has no devices controller: the kernel asks the cgroup's
  ``BPF_PROG_TYPE_CGROUP_DEVICE`` programs instead (Documentation/admin-guide/cgroup-v2.rst,
  "Device controller"). ``bpf_program`` compiles the list into one, written out below with
  named opcodes; ``attach_program`` loads it with bpf(2) and attaches it to the container's
  cgroup directory.

The list is what hardbox's own ``/dev`` holds (runtime/mounts.py, ``_mount_dev``): the
bind-mounted null, zero, full, random, urandom and tty, the devpts instance's ptmx and
its ptys. mknod of any node is allowed (the ``m`` rules, as runc's defaults), opening one
that is not listed is not: a node an image or a volume brings stays inert, even for a
container root with CAP_MKNOD.
"""

from __future__ import annotations

import os
import struct

from hardbox.records import TYPE_CHECKING, NamedTuple
from hardbox.runtime.cgroups.base import DevicesUnavailable

if TYPE_CHECKING:
    from typing import Literal

ANY = None  # a wildcard major or minor (``*``)


class DeviceRule(NamedTuple):
    """One allow rule: ``kind`` c (char) or b (block), major and minor (``ANY`` = ``*``),
    ``access`` a subset of ``rwm`` (read, write, mknod)."""

    kind: Literal["c", "b"]
    major: int | None
    minor: int | None
    access: str
    what: str

    def check(self) -> None:
        """Refuse a malformed rule (the list below is checked when this module loads)."""
        if self.kind not in ("c", "b") or not self.access or set(self.access) - set("rwm"):
            raise ValueError(f"device rule {self}: kind must be c or b, access a subset of rwm")

    def v1_line(self) -> str:
        """The rule as ``devices.allow`` takes it (Documentation/admin-guide/cgroup-v1/devices.rst)."""
        major = "*" if self.major is ANY else str(self.major)
        minor = "*" if self.minor is ANY else str(self.minor)
        return f"{self.kind} {major}:{minor} {self.access}"


ALLOWED_DEVICES: tuple[DeviceRule, ...] = (
    DeviceRule("c", ANY, ANY, "m", "mknod of any char device"),
    DeviceRule("b", ANY, ANY, "m", "mknod of any block device"),
    DeviceRule("c", 1, 3, "rwm", "null"),
    DeviceRule("c", 1, 5, "rwm", "zero"),
    DeviceRule("c", 1, 7, "rwm", "full"),
    DeviceRule("c", 1, 8, "rwm", "random"),
    DeviceRule("c", 1, 9, "rwm", "urandom"),
    DeviceRule("c", 5, 0, "rwm", "tty"),
    DeviceRule("c", 5, 2, "rwm", "ptmx"),
    DeviceRule("c", 136, ANY, "rwm", "pts/*"),
    # Left out of runc's defaults on purpose:
    # - 5:1 /dev/console: hardbox's /dev has no console (runc allows it because it binds the
    #   container's pty there for terminal: true; hardbox's -t pty is /dev/pts/0). A node for
    #   5:1 that an image or volume brings would be the host's system console.
    # - 10:200 /dev/net/tun: not in hardbox's /dev, and nothing in hardbox's networking uses
    #   tap devices. runc's maintainers called its presence a mistake and removed it
    #   (opencontainers/runc#3468), then re-added it only because users relied on it
    #   (#4555); hardbox has no such users to keep working.
)
for _rule in ALLOWED_DEVICES:
    _rule.check()


def v1_lines(rules: tuple[DeviceRule, ...]) -> list[str]:
    return [rule.v1_line() for rule in rules]


def apply_v1(directory: str | os.PathLike[str], rules: tuple[DeviceRule, ...]) -> None:
    """Deny everything, then allow ``rules``, in a v1 devices cgroup (before any task joins)."""
    directory = os.fspath(directory)
    _write(f"{directory}/devices.deny", ["a"])
    # The kernel parses one rule per write(2); the writes may share one open file.
    _write(f"{directory}/devices.allow", v1_lines(rules))


def _write(path: str, values: list[str]) -> None:
    """Each of ``values`` in a write(2) of its own to ``path``, opened once."""
    value = ""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            for value in values:
                os.write(fd, value.encode())
        finally:
            os.close(fd)
    except OSError as err:
        raise DevicesUnavailable(f"write {value!r} to {path}: {err.strerror}") from err


# ---- cgroup v2: the same list as an eBPF program ------------------------------------------
# Instruction fields, include/uapi/linux/bpf_common.h and bpf.h.
BPF_LDX, BPF_ALU, BPF_JMP, BPF_ALU64 = 0x01, 0x04, 0x05, 0x07  # class
BPF_W, BPF_MEM = 0x00, 0x60  # size (32-bit word), mode (load from memory)
BPF_K, BPF_X = 0x00, 0x08  # source: the immediate, or the src register
BPF_AND, BPF_RSH, BPF_MOV = 0x50, 0x70, 0xB0  # ALU operations
BPF_JNE, BPF_EXIT = 0x50, 0x90  # jump operations
R0, R1, R2, R3, R4, R5 = range(6)  # r0 = return value, r1 = the context on entry

# struct bpf_cgroup_dev_ctx: {u32 access_type (access << 16 | type); u32 major; u32 minor}
CTX_ACCESS_TYPE, CTX_MAJOR, CTX_MINOR = 0, 4, 8
BPF_DEVCG_DEV_BLOCK, BPF_DEVCG_DEV_CHAR = 1, 2
ACCESS_BITS = {"m": 1, "r": 2, "w": 4}  # BPF_DEVCG_ACC_MKNOD, _READ, _WRITE
LICENSE = "Apache-2.0"  # hardbox's; the program calls no GPL-only helper
PROG_NAME = "hardbox_devices"


class Insn(NamedTuple):
    """One ``struct bpf_insn``: opcode, dst and src registers, offset, immediate."""

    code: int
    dst: int = 0
    src: int = 0
    off: int = 0
    imm: int = 0

    def encode(self) -> bytes:
        return struct.pack("<BBhi", self.code, self.src << 4 | self.dst, self.off, self.imm)


def load_word(dst: int, src: int, off: int) -> Insn:
    return Insn(BPF_LDX | BPF_MEM | BPF_W, dst, src, off)


def alu32_imm(op: int, dst: int, imm: int) -> Insn:
    return Insn(BPF_ALU | op | BPF_K, dst, imm=imm)


def mov32_reg(dst: int, src: int) -> Insn:
    return Insn(BPF_ALU | BPF_MOV | BPF_X, dst, src)


def mov64_imm(dst: int, imm: int) -> Insn:
    return Insn(BPF_ALU64 | BPF_MOV | BPF_K, dst, imm=imm)


NEXT_RULE = -1  # a placeholder offset: "on to the next rule's block", fixed up in _rule_block


def jne_imm(dst: int, imm: int) -> Insn:
    return Insn(BPF_JMP | BPF_JNE | BPF_K, dst, off=NEXT_RULE, imm=imm)


def exit_insn() -> Insn:
    return Insn(BPF_JMP | BPF_EXIT)


def _signed32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def _rule_block(rule: DeviceRule) -> list[Insn]:
    """Allow (return 1) if the request matches ``rule``; else fall through to the next block."""
    kind = BPF_DEVCG_DEV_CHAR if rule.kind == "c" else BPF_DEVCG_DEV_BLOCK
    allowed = sum(ACCESS_BITS[a] for a in rule.access)
    block = [
        jne_imm(R2, kind),  # another device type
        # access asked & ~allowed != 0: it asks for more than the rule gives. Every bit
        # outside the rule counts, so an access bit a later kernel adds is refused too.
        mov32_reg(R1, R3),
        alu32_imm(BPF_AND, R1, _signed32(~allowed)),
        jne_imm(R1, 0),
    ]
    if rule.major is not ANY:
        block.append(jne_imm(R4, rule.major))
    if rule.minor is not ANY:
        block.append(jne_imm(R5, rule.minor))
    block += [mov64_imm(R0, 1), exit_insn()]  # matched: allow
    # A jump's offset counts the instructions it skips: from the one after it to the block's end.
    return [insn._replace(off=len(block) - i - 1) if insn.off == NEXT_RULE else insn for i, insn in enumerate(block)]


def bpf_instructions(rules: tuple[DeviceRule, ...]) -> list[Insn]:
    prog = [
        # Unpack the context once: r2 = device type (low 16 bits of access_type),
        # r3 = access asked for (high 16 bits), r4 = major, r5 = minor.
        load_word(R2, R1, CTX_ACCESS_TYPE),
        alu32_imm(BPF_AND, R2, 0xFFFF),
        load_word(R3, R1, CTX_ACCESS_TYPE),
        alu32_imm(BPF_RSH, R3, 16),
        load_word(R4, R1, CTX_MAJOR),
        load_word(R5, R1, CTX_MINOR),
    ]
    for rule in rules:  # one block per rule, first match allows
        prog += _rule_block(rule)
    prog += [mov64_imm(R0, 0), exit_insn()]  # nothing matched: deny (EPERM to the caller)
    return prog


_PROGRAMS: dict[tuple[DeviceRule, ...], bytes] = {}


def bpf_program(rules: tuple[DeviceRule, ...]) -> bytes:
    """The program's bytes, built once per process (functools.cache without functools)."""
    program = _PROGRAMS.get(rules)
    if program is None:
        program = _PROGRAMS[rules] = b"".join(insn.encode() for insn in bpf_instructions(rules))
    return program


def attach_program(cgroup_dir: str | os.PathLike[str], rules: tuple[DeviceRule, ...]) -> None:
    """Load the list's program and attach it to ``cgroup_dir`` (before any task joins).

    BPF_F_ALLOW_MULTI, as runc: programs an ancestor attached with it (systemd's) run too,
    and a device is allowed only if every one of them allows it. The attachment holds its
    own reference to the program, so both descriptors are closed here; removing the cgroup
    detaches and frees it.
    """

    from hardbox.runtime import bpf  # cgroup v2 only: a v1 host's run does not load it

    try:
        dir_fd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as err:
        raise DevicesUnavailable(f"open {cgroup_dir}: {err.strerror}") from err
    try:
        prog_fd = bpf.bpf_prog_load(
            bpf.BPF_PROG_TYPE_CGROUP_DEVICE, bpf_program(rules), name=PROG_NAME, license_name=LICENSE,
            expected_attach_type=bpf.BPF_CGROUP_DEVICE,
        )
        try:
            bpf.bpf_prog_attach(dir_fd, prog_fd, bpf.BPF_CGROUP_DEVICE, bpf.BPF_F_ALLOW_MULTI, os.fspath(cgroup_dir))
        finally:
            os.close(prog_fd)
    except OSError as err:  # KernelError: names the bpf command and the cgroup
        raise DevicesUnavailable(str(err)) from err
    finally:
        os.close(dir_fd)


def describe(rules: tuple[DeviceRule, ...]) -> str:
    """For ``--explain``: what may be opened, in the words of /dev."""
    opened = [r.what for r in rules if set(r.access) - {"m"}]
    return "open only " + ", ".join(opened) + "; mknod of any node (inert: not openable)"
