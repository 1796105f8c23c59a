"""Port types for a container's SELinux module: hardbox's table of the reference policy's
port types (policies/selinux/base.cil), checked against what setools reads from that table
compiled by secilc, and a compiled policy's own port contexts read with setools' seinfo, as
udica reads the host's."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from helpers.cli import need_tool

from hardbox.errors import InputError
from hardbox.resources import policies
from hardbox.runtime.profile.load import load_profile
from hardbox.runtime.profile.selinux_cil import policy_cil
from hardbox.runtime.profile.selinux_ports import from_policy, reference_table

SELINUX = Path(str(policies())) / "selinux"


def compiled(tmp_path: Path, *extra: str) -> Path:
    need_tool("secilc")
    files = []
    for number, text in enumerate(extra):
        files.append(tmp_path / f"extra{number}.cil")
        files[-1].write_text(text)
    subprocess.run(["secilc", "-o", str(tmp_path / "policy.bin"), "-f", "/dev/null",
                    str(SELINUX / "base.cil"), str(SELINUX / "templates.cil"), *map(str, files)],
                   check=True, capture_output=True, cwd=tmp_path)
    return tmp_path / "policy.bin"


def test_the_table_knows_the_standard_ports() -> None:
    table = reference_table()
    assert table.type_of("tcp", 22) == "ssh_port_t"  # not reserved_port_t (issue 17)
    assert table.type_of("tcp", 80) == "http_port_t" and table.type_of("tcp", 443) == "http_port_t"
    assert table.type_of("tcp", 8080) == "http_cache_port_t"  # as refpolicy and Fedora label it
    assert table.type_of("tcp", 5432) == "postgresql_port_t" and table.type_of("udp", 53) == "dns_port_t"
    assert table.type_of("tcp", 1434) == "mssql_port_t"  # inside a range entry
    assert table.type_of("tcp", 100) == "reserved_port_t"
    assert table.type_of("udp", 600) == "hi_reserved_port_t"
    assert table.type_of("tcp", 30000) == "unreserved_port_t"
    assert table.type_of("udp", 22) == "reserved_port_t"  # ssh is tcp only


def test_the_table_is_what_the_compiled_policy_says(tmp_path: Path) -> None:
    """seinfo over the compiled base policy gives the same type for every port in the table."""
    need_tool("seinfo")
    table = reference_table()
    policy = from_policy(compiled(tmp_path))
    ports = {(proto, lo) for proto, lo, _hi, _ in table.entries} | {("tcp", 8443), ("udp", 700), ("tcp", 40000)}
    assert len(ports) > 50
    assert {p: table.type_of(*p) for p in ports} == {p: policy.type_of(*p) for p in ports}


def test_a_policys_own_port_types_are_used(tmp_path: Path) -> None:
    """A host policy that labels 9999 http_port_t (semanage port -a would): the module binds
    http_port_t there, where the table would say unreserved_port_t, and says where it looked."""
    need_tool("seinfo")
    policy = compiled(tmp_path, "(portcon tcp 9999 (system_u object_r http_port_t low_high))\n")
    ports = from_policy(policy)
    config = {"config": {"ExposedPorts": {"9999/tcp": {}, "22/tcp": {}}}}
    module = policy_cil(config, load_profile("default"), name="app", ports=ports)
    assert "(allow process http_port_t (tcp_socket (name_bind)))  ; 9999/tcp" in module
    assert "(allow process ssh_port_t (tcp_socket (name_bind)))  ; 22/tcp" in module
    assert f"; port types from the SELinux policy {policy}" in module
    table_module = policy_cil(config, load_profile("default"), name="app")
    assert "unreserved_port_t (tcp_socket (name_bind)))  ; 9999/tcp" in table_module
    assert "reference policy's port types" in table_module


def test_a_file_that_is_not_a_policy_is_one_error(tmp_path: Path) -> None:
    need_tool("seinfo")
    bogus = tmp_path / "policy.bin"
    bogus.write_bytes(b"\x00" * 64)
    with pytest.raises(InputError, match=r"policy\.bin: not a compiled SELinux policy"):
        from_policy(bogus)
