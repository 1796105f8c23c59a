"""Built-in rules for what programs load at run time that no static reading shows.

The ELF closure finds what the loader maps at start; these rules add what glibc and common
runtimes open later by name: NSS modules named in ``nsswitch.conf``, gconv modules for iconv,
``libgcc_s`` (dlopened by glibc for ``pthread_cancel`` and unwinding), CA certificates,
timezone data, the account files for the image's user, ``/tmp``, and the module directories of
script interpreters. Each kept path carries the rule's name as its reason, so the report can
say why a file stayed.
"""

from __future__ import annotations

import posixpath
import re
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from hardbox.minimize.elf import Closure, ElfResolver
from hardbox.minimize.rootview import RootView

# Debian/Ubuntu multiarch library directories, then the classic ones.
LIB_DIRS = ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu",
            "/usr/lib/aarch64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib")
_SHEBANG = re.compile(rb"^#!\s*(\S+)(?:\s+(\S+))?")
_MAX_TREE_FILES = 20000


@dataclass(frozen=True)
class RuleContext:
    view: RootView
    resolver: ElfResolver
    closure: Closure
    user: str  # the image config's User ("" = root)


def _keep_tree(ctx: RuleContext, directory: str, reason: str) -> None:
    """Keep a directory and everything below it (bounded)."""
    resolved = ctx.view.resolve(directory)
    if not resolved.exists:
        return
    for link in resolved.links:
        ctx.closure.add(link, reason)
    base = ctx.view.host(resolved.path)
    for count, host_path in enumerate(sorted(base.rglob("*")) if base.is_dir() else [], 1):
        if count > _MAX_TREE_FILES:
            ctx.closure.errors.append(f"{directory}: more than {_MAX_TREE_FILES} files, rest not kept")
            break
        image_path = "/" + str(host_path.relative_to(ctx.view.root))
        ctx.closure.add(image_path, reason)
        if host_path.is_file() and not host_path.is_symlink():
            ctx.resolver.closure([image_path], reason, ctx.closure)
    ctx.closure.add(resolved.path, reason)


def _keep_file(ctx: RuleContext, path: str, reason: str) -> bool:
    resolved = ctx.view.resolve(path)
    if not resolved.exists:
        return False
    for link in resolved.links:
        ctx.closure.add(link, reason)
    ctx.closure.add(resolved.path, reason)
    return True


def _find_lib(ctx: RuleContext, name: str) -> str | None:
    for directory in LIB_DIRS:
        candidate = posixpath.join(directory, name)
        if ctx.view.resolve(candidate).exists:
            return candidate
    return None


def _elf_objects(ctx: RuleContext) -> list[str]:
    return sorted(p for p, why in ctx.closure.keep.items() if "elf-visited" in why)


def _imports(ctx: RuleContext, symbols: set[str]) -> bool:
    """Whether any kept ELF object imports one of ``symbols`` (undefined in .dynsym)."""
    for path in _elf_objects(ctx):
        try:
            with open(ctx.view.host(path), "rb") as fh:
                dynsym = ELFFile(fh).get_section_by_name(".dynsym")
                if dynsym is None:
                    continue
                for sym in dynsym.iter_symbols():  # type: ignore[attr-defined]
                    if sym.name in symbols and sym["st_shndx"] == "SHN_UNDEF":
                        return True
        except (ELFError, OSError, ValueError):
            continue
    return False


def rule_nss(ctx: RuleContext) -> None:
    """glibc loads libnss_<service>.so.2 for each service nsswitch.conf names (getpwnam, …)."""
    reason = "rule:nss"
    if not _keep_file(ctx, "/etc/nsswitch.conf", reason):
        services = {"files", "dns"}  # glibc's built-in default without nsswitch.conf
    else:
        services = set()
        text = ctx.view.host(ctx.view.resolve("/etc/nsswitch.conf").path).read_text(errors="replace")
        for line in text.splitlines():
            line = line.split("#", 1)[0]
            if ":" in line:
                services.update(w for w in line.split(":", 1)[1].split() if not w.startswith("["))
    for service in sorted(services):
        lib = _find_lib(ctx, f"libnss_{service}.so.2")
        if lib:
            ctx.resolver.closure([lib], reason, ctx.closure)
    for path in ("/etc/hosts", "/etc/host.conf", "/etc/resolv.conf", "/etc/services", "/etc/protocols"):
        _keep_file(ctx, path, reason)


def rule_accounts(ctx: RuleContext) -> None:
    """The account files, so the image's user (and `getent`, `id`, `ls -l`) still resolve."""
    for path in ("/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow"):
        _keep_file(ctx, path, f"rule:accounts (user {ctx.user or 'root'})")


def rule_tmp(ctx: RuleContext) -> None:
    """/tmp exists with mode 1777: programs create temporary files without asking."""
    st = ctx.view.lstat("/tmp")
    if st is not None and stat.S_ISDIR(st.st_mode):
        ctx.closure.add("/tmp", "rule:tmp (mode 1777)")


def rule_gconv(ctx: RuleContext) -> None:
    """iconv_open() reads the gconv module configuration at run time.

    Only the configuration is kept: glibc converts UTF-8, ASCII and Latin-1 without loading a
    module, and a module a probe really loads shows up in its trace. Keeping all ~250
    modules would cost megabytes for every shell.
    """
    if not _imports(ctx, {"iconv_open", "iconv"}):
        return
    for directory in LIB_DIRS:
        gconv = posixpath.join(directory, "gconv")
        for name in ("gconv-modules", "gconv-modules.cache"):
            _keep_file(ctx, posixpath.join(gconv, name), "rule:gconv (iconv_open)")
        if ctx.view.resolve(posixpath.join(gconv, "gconv-modules.d")).exists:
            _keep_tree(ctx, posixpath.join(gconv, "gconv-modules.d"), "rule:gconv (iconv_open)")


def rule_libgcc(ctx: RuleContext) -> None:
    """glibc dlopens libgcc_s.so.1 for pthread_cancel/pthread_exit and C++ unwinding."""
    if _imports(ctx, {"pthread_cancel", "pthread_exit", "__cxa_throw", "_Unwind_Resume"}):
        lib = _find_lib(ctx, "libgcc_s.so.1")
        if lib:
            ctx.resolver.closure([lib], "rule:libgcc_s (unwinding)", ctx.closure)


def rule_ca_certificates(ctx: RuleContext) -> None:
    """TLS clients read the CA bundle by path at run time."""
    for path in ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt",
                 "/etc/ssl/cert.pem"):
        _keep_file(ctx, path, "rule:ca-certificates")


def rule_timezone(ctx: RuleContext) -> None:
    """localtime() reads /etc/localtime (a symlink chain into zoneinfo) and TZ files."""
    _keep_file(ctx, "/etc/localtime", "rule:timezone")
    _keep_file(ctx, "/etc/timezone", "rule:timezone")


def interpreter_of(view: RootView, path: str) -> list[str]:
    """The shebang interpreter of a script (``#!/usr/bin/env perl`` → env and perl via PATH)."""
    resolved = view.resolve(path)
    if not resolved.exists:
        return []
    try:
        with open(view.host(resolved.path), "rb") as fh:
            first = fh.readline(256)
    except OSError:
        return []
    m = _SHEBANG.match(first)
    if not m:
        return []
    interp = m.group(1).decode(errors="replace")
    found = [interp]
    if posixpath.basename(interp) == "env" and m.group(2):
        name = m.group(2).decode(errors="replace")
        for directory in ("/usr/local/bin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/sbin", "/sbin"):
            if view.resolve(posixpath.join(directory, name)).exists:
                found.append(posixpath.join(directory, name))
                break
    return found


def rule_interpreters(ctx: RuleContext) -> None:
    """Script interpreters load their module directories at run time."""
    for path in _elf_objects(ctx):
        name = posixpath.basename(path)
        if re.fullmatch(r"perl(5[.\d]*)?", name):
            for d in LIB_DIRS:
                _keep_tree(ctx, posixpath.join(d, "perl-base"), "rule:interpreter (perl-base modules)")
        elif m := re.fullmatch(r"python(3\.\d+)", name):
            _keep_tree(ctx, f"/usr/lib/python{m.group(1)}", "rule:interpreter (python stdlib)")


RULES: tuple[Callable[[RuleContext], None], ...] = (
    rule_accounts, rule_tmp, rule_nss, rule_gconv, rule_libgcc, rule_ca_certificates,
    rule_timezone, rule_interpreters,
)


def apply_rules(ctx: RuleContext, rules: Iterable[Callable[[RuleContext], None]] = RULES) -> Closure:
    for rule in rules:
        rule(ctx)
    return ctx.closure
