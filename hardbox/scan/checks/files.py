"""File checks: what the image's files say about its attack surface.

Read from the one walk (``ImageFile`` gives mode, owner, the layer that brought the file and
``hidden_by`` when a later layer deleted or replaced it): setuid/setgid binaries,
world-writable files and directories without the sticky bit, SSH host keys and
authorized_keys, key and credential files, files a later layer deleted that still ship in an
earlier layer (a layer is an immutable tar: ``rm`` in a later step only hides the file) when
their name or their content says they held a key or credential, bytes shadowed by later
layers, and the shells and package managers a minimized image would drop.

Permission checks look at what a container sees (the merged view); key and credential checks
look at every layer, because a hidden copy is still in the image for anyone who pulls it.
Contents are judged by the one detector set (``hardbox.secrets``) with its size and binary
limits: the head of a ``.key``/``.pem`` file always (is it a private key or a certificate?),
every hidden file only when the scan reads contents (not with ``--skip-secrets``).
"""

from __future__ import annotations

import posixpath
import re
import stat

from hardbox.findings import Finding, LayerRef, Severity
from hardbox.scan.checks.interface import Check, CheckOptions, ImageContext
from hardbox.scan.checks.rules import Rule, rule
from hardbox.scan.walk import ImageFile, MergedView, Shadowed
from hardbox.secrets import SecretPolicy, load_policy

_BIN_DIRS = ("/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin")
_SHELLS = frozenset({"sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "csh", "tcsh", "fish"})
_PACKAGE_MANAGERS = frozenset({
    "apt", "apt-get", "dpkg", "apk", "yum", "dnf", "microdnf", "rpm", "zypper", "pip", "pip3",
    "npm", "yarn", "gem",
})
# Credential files by name alone: what each holds is a credential whatever its bytes.
_CREDENTIAL_NAMES = re.compile(
    r"(?:^|/)(?:id_(?:rsa|dsa|ecdsa|ed25519|ecdsa_sk|ed25519_sk)|\.aws/credentials|"
    r"\.git-credentials|[._]netrc|\.pgpass|\.my\.cnf|\.s3cfg|\.boto|\.htpasswd|\.kube/config|"
    r"\.vault-token|\.docker/config\.json|\.gnupg/secring\.gpg|"
    r"[^/]+\.(?:p12|pfx|jks|keystore|bcfks|ppk|kdbx))$"
)
# Named like a key, but certificates, CA bundles and public keys are named so too: a key when
# its content says so (PEM armour of a private key; a .key without public armour).
_KEY_NAMES = re.compile(r"[^/]+\.(?:key|pem)$")
_PRIVATE_ARMOUR = re.compile(rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")
_SSH_HOST_KEY = re.compile(r"^/etc/ssh/ssh_host_[a-z0-9]+_key$")
_AUTHORIZED_KEYS = re.compile(r"/\.ssh/authorized_keys2?$")
# Below this a layer's shadowed bytes are noise (a config file rewritten by a later step).
WASTE_THRESHOLD = 1024 * 1024


class FileCheck(Check):
    """Permission, key, minimization and layer-hygiene checks over every file."""

    name = "checks/files"

    def __init__(self, image: ImageContext, options: CheckOptions) -> None:
        super().__init__(image, options)
        self._findings: list[Finding] = []
        self._shadowed: list[tuple[LayerRef, Shadowed]] = []
        self._policy: SecretPolicy = load_policy()

    def wants(self, path: str) -> bool:
        return True

    def visit(self, file: ImageFile) -> None:
        if file.hidden_by is None:
            self._permissions(file)
            self._minimization(file)
        self._keys(file)

    def walked(self, view: MergedView) -> None:
        # The walk counts what later layers hide, once, for this check and the layer table.
        self._shadowed = sorted(view.shadowed.items(), key=lambda kv: kv[0].index)

    def findings(self) -> list[Finding]:
        out = list(self._findings)
        for layer, shadow in self._shadowed:
            size, count = shadow.bytes, shadow.files
            if size < WASTE_THRESHOLD:
                continue
            later = ", ".join(str(i) for i in sorted(shadow.by))
            out.append(rule("HB-FILE-008").finding(
                f"Layer {layer.index} ships {size} bytes in {count} files that layer(s) {later} "
                "delete or replace.",
                title=f"{_mb(size)} in layer {layer.index} hidden by later layers",
                layer=layer, extra={"bytes": size, "files": count}))
        return out

    def _permissions(self, file: ImageFile) -> None:
        mode = file.mode
        if file.is_file and mode & (stat.S_ISUID | stat.S_ISGID):
            bits = " and ".join(b for b, m in (("setuid", stat.S_ISUID), ("setgid", stat.S_ISGID))
                                if mode & m)
            who = f"uid {file.uid}" if mode & stat.S_ISUID else f"gid {file.gid}"
            self._add(rule("HB-FILE-001").finding(
                f"{file.path} is {bits} ({who}), mode {stat.filemode(mode)}.",
                title=f"{bits.capitalize()} binary {file.path}",
                severity=Severity.MEDIUM if mode & stat.S_ISUID else Severity.LOW,
                path=file.path, layer=file.layer, extra={"mode": oct(mode & 0o7777)}))
        writable = mode & stat.S_IWOTH
        if file.is_file and writable:
            self._add(rule("HB-FILE-002").finding(
                f"{file.path} is writable by every user (mode {stat.filemode(mode)}).",
                title=f"World-writable file {file.path}", path=file.path, layer=file.layer,
                extra={"mode": oct(mode & 0o7777)}))
        elif file.is_dir and writable and not mode & stat.S_ISVTX:
            self._add(rule("HB-FILE-002").finding(
                f"{file.path} is a world-writable directory without the sticky bit (mode "
                f"{stat.filemode(mode)}): any user can delete or replace others' files in it.",
                title=f"World-writable directory {file.path}", path=file.path, layer=file.layer,
                extra={"mode": oct(mode & 0o7777)}))

    def _minimization(self, file: ImageFile) -> None:
        directory, base = posixpath.split(file.path)
        if directory not in _BIN_DIRS or not (file.is_file or file.is_symlink):
            return
        if base in _SHELLS:
            self._add(rule("HB-FILE-005").finding(
                f"{file.path} is a shell.", title=f"Shell {file.path}", path=file.path,
                layer=file.layer))
        elif base in _PACKAGE_MANAGERS:
            self._add(rule("HB-FILE-004").finding(
                f"{file.path} is a package manager.", title=f"Package manager {file.path}",
                path=file.path, layer=file.layer))

    def _keys(self, file: ImageFile) -> None:
        if not file.is_file:
            return
        path = file.path
        named = self._key_by_name(file)
        if file.hidden_by is None:
            if named is not None:
                by_name, what = named
                self._add(by_name.finding(f"{path} is {what}.", title=f"{by_name.title}: {path}",
                                          path=path, layer=file.layer))
            return
        # A hidden file still ships: by its name, or else by what it held.
        held = named[1] if named is not None else self._secret_content(file)
        if held is None:
            return
        verb = "deleted" if file.deleted else "replaced"
        self._add(rule("HB-FILE-007").finding(
            f"{path} is {held}. Layer {file.hidden_by.index} {verb} it, but layer "
            f"{file.layer.index} still ships it: `tar x` of that layer recovers it.",
            title=f"{path} {verb} by layer {file.hidden_by.index} still ships in layer "
                  f"{file.layer.index}",
            path=path, layer=file.layer,
            extra={"hidden_by": file.hidden_by.diff_id, "hidden_by_index": file.hidden_by.index,
                   "deleted": file.deleted}))

    def _key_by_name(self, file: ImageFile) -> tuple[Rule, str] | None:
        path = file.path
        if _SSH_HOST_KEY.match(path):
            return rule("HB-FILE-003"), "an SSH host private key"
        if _AUTHORIZED_KEYS.search(path):
            return rule("HB-FILE-003"), "an SSH authorized_keys file"
        if _CREDENTIAL_NAMES.search(path):
            return rule("HB-FILE-006"), "a private key or credential file"
        if _KEY_NAMES.search(path) and self._holds_private_key(file):
            return rule("HB-FILE-006"), "a private key"
        return None

    def _holds_private_key(self, file: ImageFile) -> bool:
        """A .pem or .key file is a private key when its armour says so; a non-empty .key
        file with no armour at all (DER, raw or hex key bytes) is taken for one too, unless it
        is a binary OpenPGP public key (apt keyrings get saved as .key): packet tag 6, old or
        new format (RFC 4880, 4.2)."""
        policy = self._policy
        if policy.skips(file.path) or file.size > policy.max_file_size:
            return False
        try:
            head = file.read_bytes(policy.max_file_size)
        except (OSError, ValueError):
            return False
        if _PRIVATE_ARMOUR.search(head):
            return True
        # Any other armour is a certificate, a public key or parameters.
        if not file.path.endswith(".key") or b"-----BEGIN " in head:
            return False
        return bool(head) and head[0] not in (0x98, 0x99, 0x9A, 0xC6)

    def _secret_content(self, file: ImageFile) -> str | None:
        """What the detector set finds in a hidden file, redacted, or None."""
        policy = self._policy
        if (not self.options.secrets or file.size == 0 or file.size > policy.max_file_size
                or policy.skips(file.path)):
            return None
        try:
            data = file.read_bytes(policy.max_file_size)
        except (OSError, ValueError):
            return None
        if b"\0" in data[: policy.binary_probe]:
            return None
        matches = policy.find(data, file.path)
        if not matches:
            return None
        first = matches[0]
        more = f" and {len(matches) - 1} more secret(s)" if len(matches) > 1 else ""
        return f"a file holding a {first.rule.title} ({first.redacted}, line {first.line}){more}"

    def _add(self, finding: Finding) -> None:
        self._findings.append(finding)


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"
