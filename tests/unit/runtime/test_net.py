"""runtime/net: option parsing, the plan, the /etc files and pasta's command line."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

import pytest

from hardbox.errors import UsageError
from hardbox.runtime.net import etcfiles, host
from hardbox.runtime.net.options import HostEntry, NetworkOptions, PublishedPort, exposed_port
from hardbox.runtime.net.pasta import pasta_args
from hardbox.runtime.net.plan import NetworkPlan, make_network_plan
from hardbox.runtime.profile.model import Egress, EgressRule


@pytest.mark.parametrize(("spec", "want"), [
    ("8080:80", ("127.0.0.1", 8080, 80, "tcp")),  # no IP: loopback, not every interface
    ("0.0.0.0:8080:80", ("0.0.0.0", 8080, 80, "tcp")),
    ("127.0.0.1:5353:53/udp", ("127.0.0.1", 5353, 53, "udp")),
    ("80", ("127.0.0.1", 0, 80, "tcp")),  # a free host port, chosen at start
    ("127.0.0.1::80", ("127.0.0.1", 0, 80, "tcp")),
    ("[::1]:8080:80/tcp", ("::1", 8080, 80, "tcp")),
])
def test_publish_parses_as_docker_writes_it(spec, want):
    p = PublishedPort.parse(spec)
    assert (p.host_ip, p.host_port, p.container_port, p.proto) == want


@pytest.mark.parametrize(("spec", "named"), [
    ("70000:80", "70000"), ("abc", "abc"), ("8080:0", "'0'"), ("8080:80/sctp", "sctp"),
    ("1.2.3:8080:80", "1.2.3"), ("a:b:c:d", "a:b:c:d"), ("8000-8010:80", "ranges"),
    ("[::1:8080:80", "IPV6"), ("", "''"), ("8080:", "''"),
])
def test_bad_publish_names_the_value(spec, named):
    with pytest.raises(UsageError) as err:
        PublishedPort.parse(spec)
    assert named in err.value.message


def test_published_port_text():
    assert str(PublishedPort.parse("8080:80")) == "127.0.0.1:8080->80/tcp"
    assert str(PublishedPort.parse("[::1]:53:53/udp")) == "[::1]:53->53/udp"


def test_add_host():
    assert HostEntry.parse("db:10.0.0.5") == HostEntry("db", "10.0.0.5")
    assert HostEntry.parse("v6:2001:db8::1") == HostEntry("v6", "2001:db8::1")
    assert HostEntry.parse("gw:host-gateway") == HostEntry("gw", "host-gateway")
    for bad in ("nocolon", ":1.2.3.4", "x:", "x:999.1.1.1", "bad_name!:1.2.3.4"):
        with pytest.raises(UsageError):
            HostEntry.parse(bad)


def test_exposed_ports_from_the_image_are_checked():
    assert exposed_port("80/tcp") == (80, "tcp")
    assert exposed_port("53/udp") == (53, "udp")
    assert exposed_port("8080") == (8080, "tcp")
    for hostile in ("80/sctp", "99999/tcp", "x/tcp", "-1"):
        with pytest.raises(UsageError):
            exposed_port(hostile)


@pytest.mark.parametrize("mode", ["none", "host"])
def test_ports_and_host_gateway_need_private(mode):
    for options, named in ((NetworkOptions.parse(["8080:80"], False, [], []), "-p 8080:80/tcp"),
                           (NetworkOptions.parse([], True, [], []), "-P"),
                           (NetworkOptions.parse([], False, [], ["h:host-gateway"]), "--add-host h:host-gateway")):
        with pytest.raises(UsageError) as err:
            options.check_mode(mode, "strict")
        assert err.value.message.startswith(named)
    NetworkOptions.parse([], False, ["1.1.1.1"], ["h:1.2.3.4"]).check_mode(mode, "strict")  # fine


def test_plan_chooses_free_ports_and_refuses_a_port_twice():
    options = NetworkOptions.parse(["127.0.0.1::80", "9999:99"], True, [], [])
    plan = make_network_plan("private", options, ("80/tcp", "53/udp"), "web")
    ports = {(p.container_port, p.proto): p for p in plan.ports}
    assert set(ports) == {(80, "tcp"), (99, "tcp"), (53, "udp")}  # -P adds 53/udp, 80 is already there
    assert all(p.host_port for p in plan.ports) and ports[(99, "tcp")].host_port == 9999
    with pytest.raises(UsageError, match="published twice"):
        make_network_plan("private", NetworkOptions.parse(["8080:80", "8080:81"], False, [], []), (), "x")


def test_plan_reads_the_hosts_route_and_resolvers():
    plan = make_network_plan("private", NetworkOptions.parse([], False, ["192.0.2.53"], ["h:host-gateway"]), (), "web")
    assert plan.nameservers == ("192.0.2.53",)
    assert ("127.0.0.1", "h") in plan.hosts and plan.host_gateway and plan.host_ports is None
    ipaddress.ip_address(plan.container_address)  # the address pasta copies into the container


def test_host_gateway_ports_come_from_the_egress_policy():
    policy = Egress(default="deny", allow=(EgressRule("host-gateway", (5432,), "tcp"),))
    plan = make_network_plan("private", NetworkOptions.parse([], False, [], ["h:host-gateway"]), (), "x", egress=policy)
    assert plan.host_ports == ((5432, "tcp"),)
    args = pasta_args(plan, Path("/s/pasta.pid"))
    assert _pairs(args, "-T") == ["127.0.0.1/5432"] and _pairs(args, "-U") == ["none"]


def _pairs(args: list[str], flag: str) -> list[str]:
    return [args[i + 1] for i, a in enumerate(args) if a == flag]


def test_pasta_args_keep_the_hosts_loopback_out():
    plan = NetworkPlan("private", "web", ports=(PublishedPort("127.0.0.1", 8080, 80), PublishedPort("0.0.0.0", 53, 53, "udp")))
    args = pasta_args(plan, Path("/s/pasta.pid"))
    assert "--no-map-gw" in args and "--config-net" in args
    assert _pairs(args, "-t") == ["127.0.0.1/8080:80"] and _pairs(args, "-u") == ["0.0.0.0/53:53"]
    assert _pairs(args, "-T") == ["none"] and _pairs(args, "-U") == ["none"]
    everything = NetworkPlan("private", "web", host_gateway=True, host_ports=None)
    assert _pairs(pasta_args(everything, Path("/p")), "-T") == ["auto"]
    assert _pairs(pasta_args(everything, Path("/p")), "-t") == ["none"]


def test_etc_files(tmp_path):
    plan = NetworkPlan("private", "web1", nameservers=("192.0.2.53",), search=("example.test",),
                       resolv_options=("ndots:2",), hosts=(("10.0.0.5", "db"),), container_address="192.0.2.2")
    binds = etcfiles.write(tmp_path, plan, ())
    assert sorted(b.destination for b in binds) == ["/etc/hostname", "/etc/hosts", "/etc/resolv.conf"]
    assert all(b.read_only for b in binds)
    hosts = (tmp_path / "hosts").read_text()
    assert "127.0.0.1\tlocalhost\n" in hosts and "192.0.2.2\tweb1\n" in hosts and hosts.endswith("10.0.0.5\tdb\n")
    resolv = (tmp_path / "resolv.conf").read_text()
    assert "nameserver 192.0.2.53\n" in resolv and "search example.test\n" in resolv and "options ndots:2\n" in resolv
    assert (tmp_path / "hostname").read_text() == "web1\n"
    assert oct((tmp_path / "hosts").stat().st_mode & 0o777) == "0o644"


def test_a_volume_on_an_etc_file_wins(tmp_path):
    from hardbox.runtime.mounts import Volume

    mine = Volume(str(tmp_path), "/etc/resolv.conf", True)
    binds = etcfiles.write(tmp_path, NetworkPlan("none", "x"), (mine,))
    assert "/etc/resolv.conf" not in [b.destination for b in binds]


def test_loopback_resolvers_are_forwarded(tmp_path, monkeypatch):
    conf = tmp_path / "resolv.conf"
    conf.write_text("# systemd-resolved\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n")
    monkeypatch.setattr(host, "RESOLV_CONF", conf)
    plan = make_network_plan("private", NetworkOptions(), (), "x")
    assert plan.nameservers == ("169.254.1.1",) and plan.dns_forward == "169.254.1.1"
    assert "--dns-forward" in pasta_args(plan, Path("/p"))
    assert plan.search == ("lan",) and plan.resolv_options == ("edns0", "trust-ad")


def test_default_route_from_the_kernels_table(tmp_path):
    real = host.default_route()
    assert ipaddress.ip_address(real.gateway)
    assert real.interface in {name for _, name in socket.if_nameindex()}
    table = tmp_path / "route"
    table.write_text(
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
        "eth1\t00000000\t0101A8C0\t0003\t0\t0\t200\t00000000\t0\t0\t0\n"
        "eth0\t00000000\t0100A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n")
    picked = host.default_route(table)
    assert (picked.interface, picked.gateway) == ("eth0", "192.168.0.1")  # the lowest metric
