"""runtime/net's rules that no longer load ipaddress or re on a run (issue 14, start-up
budget), held to the modules they replaced: the same inputs accepted and refused, the same
text returned. The inputs are hostile on purpose; a seeded random sweep adds thousands more.
"""

from __future__ import annotations

import ipaddress
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import hardbox
from hardbox.errors import UsageError
from hardbox.runtime.net import host
from hardbox.runtime.net.address import canonical_ipv4, ip_address_text, is_loopback
from hardbox.runtime.net.options import HostEntry, is_host_name

ADDRESSES = [
    "1.2.3.4", "0.0.0.0", "255.255.255.255", "127.0.0.1", "127.255.0.9", "10.255.255.53",
    "256.1.1.1", "1.2.3", "1.2.3.4.5", "01.2.3.4", "1.2.3.04", "1.2.3.0", "00.0.0.0", "0.0.0.00",
    "1..2.3", ".1.2.3", "1.2.3.", "", " 1.2.3.4", "1.2.3.4 ", "1.2.3.4\n", "1.2.3.+4", "1.2.3.-4",
    "1.2.3.4/32", "\u0661.2.3.4", "1.2.3.\u0664", "\uff11.2.3.4", "1.2.3.1000", "1.2.3.999",
    "0x7f.0.0.1", "1e2.0.0.1", "1_0.0.0.1", "::1", "::", "fe80::1", "FE80::0001", "fe80::1%eth0",
    "::ffff:1.2.3.4", "2001:db8::1", "2001:DB8:0:0:0:0:0:1", "1:2:3:4:5:6:7:8:9", "[::1]",
    "::1/128", "localhost", "host-gateway", "1.2.3.4:80", "128.0.0.1", "126.255.255.255",
]


def _old(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _sweep(seed: int, count: int) -> list[str]:
    """Strings near addresses: digits, dots, colons, hex, signs, unicode digits, spaces."""
    rng = random.Random(seed)
    alphabet = "0123456789....::abcdefABX+-_ /%\u0661\uff11\n"
    out = []
    for _ in range(count):
        if rng.random() < 0.5:
            octets = [str(rng.choice([0, 1, 9, 10, 99, 100, 127, 199, 255, 256, 300, 999, 1000])) for _ in range(4)]
            if rng.random() < 0.3:
                i = rng.randrange(4)
                octets[i] = "0" + octets[i]
            out.append(".".join(octets[: rng.choice([3, 4, 4, 4, 5])]))
        else:
            out.append("".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 16))))
    return out


@pytest.mark.parametrize("text", ADDRESSES)
def test_addresses_are_accepted_refused_and_written_as_ipaddress_does(text: str) -> None:
    _check_address(text)


def test_a_sweep_of_near_addresses_agrees_with_ipaddress() -> None:
    for text in _sweep(14, 5000):
        _check_address(text)


def _check_address(text: str) -> None:
    expected = _old(text)
    if expected is None:
        with pytest.raises(ValueError):
            ip_address_text(text)
        assert not canonical_ipv4(text)
        return
    assert ip_address_text(text) == expected
    assert is_loopback(text) is ipaddress.ip_address(text).is_loopback
    if canonical_ipv4(text):  # the fast path never claims a text ipaddress writes otherwise
        assert expected == text and ipaddress.ip_address(text).version == 4


OLD_HOST_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")
NAMES = [
    "", "a", "-", ".", "a-", "-a", "a.", ".a", "a.b", "a-b", "a..b", "a_b", "db", "my-db.internal",
    "a" * 253, "a" * 254, "a" + "-" * 251 + "b", "a" + "-" * 252 + "b", "\u00e9", "a\u0661", "\u0661",
    "a b", "a\n", "\na", "a:b", "1", "1.2.3.4", "A9", "x" * 2,
]


@pytest.mark.parametrize("name", NAMES)
def test_host_names_are_the_regexs(name: str) -> None:
    assert is_host_name(name) is bool(OLD_HOST_NAME.fullmatch(name))


def test_a_sweep_of_near_host_names_agrees_with_the_regex() -> None:
    for name in _sweep(7, 3000):
        assert is_host_name(name) is bool(OLD_HOST_NAME.fullmatch(name)), name


def test_add_host_refuses_what_it_refused() -> None:
    assert HostEntry.parse("db:10.0.0.5") == HostEntry("db", "10.0.0.5")
    assert HostEntry.parse("db=fe80::0001") == HostEntry("db", "fe80::1")
    for spec, named in (("-db:1.2.3.4", "'-db' is not a host name"), ("db:01.2.3.4", "'01.2.3.4' is not an IP"),
                        ("db\n:1.2.3.4", "is not a host name")):
        with pytest.raises(UsageError, match=named):
            HostEntry.parse(spec)


def test_resolv_conf_keeps_what_ipaddress_kept(tmp_path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_bytes(b"nameserver 10.0.0.1\nnameserver 010.0.0.1\nnameserver fe80::0001%eth0\n"
                     b"nameserver 1.2.3.4.5\nnameserver \xff\nnameserver 127.0.0.53 # local\r\n"
                     b"search a.example b.example\noptions ndots:2\n")
    resolv = host.read_resolv_conf(conf)
    assert resolv.nameservers == ("10.0.0.1", "fe80::1", "127.0.0.53")
    assert resolv.search == ("a.example", "b.example") and resolv.options == ("ndots:2",)
    assert host.read_resolv_conf(tmp_path / "missing") == host.ResolvConf((), (), ())


def test_an_ipv4_resolv_conf_loads_no_ipaddress(tmp_path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("nameserver 10.255.255.53\nnameserver 1.1.1.1\n")
    code = ("import sys\nfrom hardbox.runtime.net import host, options\n"
            f"assert host.read_resolv_conf({str(conf)!r}).nameservers == ('10.255.255.53', '1.1.1.1')\n"
            "options.NetworkOptions.parse([], False, [], [])\n"
            "print(sorted(m for m in ('ipaddress', 're', 'pathlib', 'typing') if m in sys.modules))\n")
    # -S: no site-packages, so nothing a development venv's .pth files import is seen.
    env = {**os.environ, "PYTHONPATH": str(Path(hardbox.__file__).parent.parent)}
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, env=env,
                         check=True).stdout
    assert out.strip() == "[]"


def test_which_finds_what_shutil_which_finds(tmp_path, monkeypatch) -> None:
    """find_pasta's PATH search (host.which) against shutil.which, on PATHs made to trip it:
    a non-executable file first, a directory of that name, empty entries (the current
    directory), duplicates, PATH empty and unset."""
    plain, exe, dirs, cwd = (tmp_path / n for n in ("plain", "exe", "dirs", "cwd"))
    for d in (plain, exe, dirs, cwd):
        d.mkdir()
    (plain / "pasta").write_text("#!/bin/sh\n")
    (plain / "pasta").chmod(0o644)
    (exe / "pasta").write_text("#!/bin/sh\n")
    (exe / "pasta").chmod(0o755)
    (dirs / "pasta").mkdir()
    (cwd / "pasta").write_text("#!/bin/sh\n")
    (cwd / "pasta").chmod(0o755)
    monkeypatch.chdir(cwd)
    paths = [f"{plain}:{dirs}:{exe}", f"{plain}:{dirs}", f"{dirs}::{exe}", f"{plain}:{plain}:{exe}", "", ":",
             f"{tmp_path}/missing:{exe}", str(cwd)]
    for path in paths:
        monkeypatch.setenv("PATH", path)
        assert host.which("pasta") == shutil.which("pasta"), path
    monkeypatch.delenv("PATH")
    assert host.which("pasta") == shutil.which("pasta") and host.which("sh") == shutil.which("sh")
