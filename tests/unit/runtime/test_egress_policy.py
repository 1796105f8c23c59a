"""The egress policy as profiles write it (both forms of ``network``, ``extends``, the errors
that name the bad value) and the nftables ruleset it becomes, loaded by the real ``nft`` into
a network namespace of a fresh user namespace (no root needed, nothing on the host touched)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from helpers.cli import need_tool
from helpers.profiles import egress_profile

from hardbox.errors import InputError
from hardbox.runtime import egress
from hardbox.runtime.profile.load import load_profile
from hardbox.runtime.profile.model import Egress, EgressRule
from hardbox.runtime.profile.options import RunOptions, apply_options

POLICY = egress_profile(
    '{cidr: 10.20.0.0/16, ports: [5432], proto: tcp}',
    '{cidr: "::/0", ports: [443], proto: tcp}',
    "{cidr: 192.0.2.10}",
    dns=True,
)


def load(tmp_path: Path, text: str, name: str = "p.yaml") -> object:
    path = tmp_path / name
    path.write_text(text)
    return load_profile(str(path), cache_dir=tmp_path / "cache")


def test_the_string_form_is_shorthand_for_the_mapping(tmp_path: Path) -> None:
    short = load(tmp_path, "network: private\n", "short.yaml")
    long = load(tmp_path, "network: {mode: private}\n", "long.yaml")
    assert short.network == long.network == "private"  # type: ignore[attr-defined]
    assert short.egress == long.egress == Egress()  # type: ignore[attr-defined]
    assert short.to_dict()["network"] == long.to_dict()["network"]  # type: ignore[attr-defined]


def test_the_mapping_form_loads_ipv4_and_ipv6_rules(tmp_path: Path) -> None:
    profile = load(tmp_path, POLICY)
    assert profile.network == "private"  # type: ignore[attr-defined]
    assert profile.egress == Egress(  # type: ignore[attr-defined]
        default="deny", dns=True,
        allow=(EgressRule("10.20.0.0/16", (5432,), "tcp"), EgressRule("::/0", (443,), "tcp"),
               EgressRule("192.0.2.10/32", (), "any")),
    )
    shown = profile.to_dict()["network"]  # type: ignore[attr-defined]
    assert shown["mode"] == "private" and shown["egress"]["allow"][2] == {"cidr": "192.0.2.10/32", "ports": [], "proto": "any"}


def test_extends_merges_mode_and_egress_key_by_key(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text(POLICY)
    # The child names only the mode, in the string form: the parent's policy stays.
    child = load(tmp_path, "extends: base.yaml\nnetwork: none\n", "child.yaml")
    assert child.network == "none" and child.egress.default == "deny" and len(child.egress.allow) == 3  # type: ignore[attr-defined]
    # The child sets one key of egress: the others come from the parent; lists are replaced.
    other = load(tmp_path, "extends: base.yaml\nnetwork:\n  egress:\n    allow: [{cidr: 198.51.100.0/24}]\n", "o.yaml")
    assert other.network == "private" and other.egress.dns and other.egress.default == "deny"  # type: ignore[attr-defined]
    assert other.egress.allow == (EgressRule("198.51.100.0/24"),)  # type: ignore[attr-defined]
    # default (private, no policy) and strict (none) keep working unchanged.
    assert load_profile("default").network == "private" and not load_profile("default").egress.restricts
    assert load_profile("strict").network == "none"


@pytest.mark.parametrize(
    ("rule", "named"),
    [
        ("{cidr: 10.20.0.1/16}", "'10.20.0.1/16' has host bits set: write 10.20.0.0/16"),
        ("{cidr: 300.1.1.0/24}", "'300.1.1.0/24' does not parse"),
        ("{cidr: 'fe80::/200'}", "'fe80::/200' does not parse"),
        ("{cidr: nonsense}", "'nonsense' does not parse"),
        ("{cidr: 10.0.0.0/8, ports: [70000]}", "allow.0.ports.0: 70000 is greater than the maximum of 65535"),
        ("{cidr: 10.0.0.0/8, ports: [0]}", "allow.0.ports.0: 0 is less than the minimum of 1"),
        ("{cidr: 10.0.0.0/8, proto: icmp}", "allow.0.proto: 'icmp' is not one of"),
        ("{ports: [80]}", "'cidr' is a required property"),
    ],
)
def test_a_bad_rule_is_one_line_naming_file_line_and_value(tmp_path: Path, rule: str, named: str) -> None:
    text = f"extends: default\nnetwork:\n  mode: private\n  egress:\n    default: deny\n    allow:\n      - {rule}\n"
    with pytest.raises(InputError) as caught:
        load(tmp_path, text, "bad.yaml")
    message = caught.value.message
    assert f"{tmp_path / 'bad.yaml'}:7: network.egress.allow.0" in message and named in message, message
    assert "\n" not in message


def test_unenforceable_combinations_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot be enforced with network host"):
        load(tmp_path, "network: {mode: host, egress: {default: deny}}\n", "host.yaml")
    with pytest.raises(InputError, match="CAP_NET_ADMIN would let the workload remove its egress rules"):
        load(tmp_path, "capabilities: [NET_ADMIN]\nnetwork: {mode: private, egress: {default: deny}}\n", "na.yaml")
    with pytest.raises(InputError, match="'sometimes' is not one of"):
        load(tmp_path, "network: {mode: private, egress: {default: sometimes}}\n", "d.yaml")


def test_run_options_against_a_policy(tmp_path: Path) -> None:
    profile = load(tmp_path, POLICY)
    # --network host cannot carry the policy: it goes, and the run records that.
    opened, weak = apply_options(profile, RunOptions(network="host"))  # type: ignore[arg-type]
    assert not opened.egress.restricts
    assert [w.field for w in weak] == ["network", "network.egress"]
    assert str(weak[1]) == "network.egress: default deny -> not enforced (--network host)"
    # --cap-add NET_ADMIN would hand the workload the rules: refused.
    with pytest.raises(InputError, match="CAP_NET_ADMIN"):
        apply_options(profile, RunOptions(cap_add=("NET_ADMIN",)))  # type: ignore[arg-type]
    # --network none tightens, and keeps the policy.
    closed, weak = apply_options(profile, RunOptions(network="none"))  # type: ignore[arg-type]
    assert closed.egress.restricts and not weak


def rules_text(ruleset: dict[str, object]) -> str:
    """The ruleset as `nft list ruleset` prints it after the real nft loaded it into the
    network namespace of a new user namespace (unshare -Ur -n)."""
    need_tool("nft", "unshare")
    proc = subprocess.run(["unshare", "--user", "--map-root-user", "--net", "sh", "-c",
                           "nft --json --file - && nft list ruleset"],
                          input=json.dumps(ruleset), capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_the_ruleset_nft_loads_says_what_the_policy_says(tmp_path: Path) -> None:
    policy = load(tmp_path, POLICY).egress  # type: ignore[attr-defined]
    text = rules_text(egress.build_ruleset(policy, resolvers=["192.0.2.53", "2001:db8::53"]))
    lines = [line.strip().split(" comment ")[0] for line in text.splitlines() if "comment" in line]
    assert lines == [
        'oifname "lo" accept',
        "ct state { established, related } accept",
        "icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert } accept",
        "ip daddr 192.0.2.53 meta l4proto { tcp, udp } th dport 53 accept",
        "ip6 daddr 2001:db8::53 meta l4proto { tcp, udp } th dport 53 accept",
        "ip daddr 10.20.0.0/16 tcp dport 5432 accept",
        "ip6 daddr ::/0 tcp dport 443 accept",
        "ip daddr 192.0.2.10 accept",
        "meta l4proto tcp reject with tcp reset",
        "reject with icmpx admin-prohibited",
    ]
    assert "type filter hook output priority filter; policy accept;" in text


def test_dns_false_lets_no_resolver_through() -> None:
    policy = Egress(default="deny", dns=False)
    text = rules_text(egress.build_ruleset(policy, resolvers=["192.0.2.53"]))
    assert "dport 53" not in text and "default deny" in text


def test_explain_words() -> None:
    policy = Egress(default="deny", dns=True, allow=(EgressRule("10.20.0.0/16", (5432, 5433), "tcp"),
                                                     EgressRule("::/0", (443,), "any")))
    assert egress.describe(policy) == [
        "allow port 53 (udp, tcp) of the container's resolvers",
        "allow tcp to 10.20.0.0/16 ports 5432, 5433",
        "allow tcp, udp to ::/0 port 443",
        "reject everything else at once (tcp reset, icmp admin-prohibited), IPv4 and IPv6",
    ]
    assert egress.describe(Egress()) == ["allow everything else"]
    assert egress.describe(Egress(default="deny")) == [
        "reject every connection the container opens, at once (tcp reset, icmp admin-prohibited), IPv4 and "
        "IPv6; replies to connections made to it pass"]


def test_host_gateway_rules_name_the_host_loopback_ports_a_run_may_reach(tmp_path: Path) -> None:
    gw = ("127.0.0.1",)
    named = Egress(default="allow", allow=(EgressRule("host-gateway", (5432,), "tcp"),
                                           EgressRule("host-gateway", (53,), "any")))
    assert egress.host_gateway(named, gw) == egress.HostGateway(gw, ((53, "tcp"), (53, "udp"), (5432, "tcp")))
    assert egress.host_gateway(named, ()) is None  # no --add-host NAME:host-gateway: nothing mapped
    # No such rule: all of it under allow (pasta maps all or none), none of it under deny.
    assert egress.host_gateway(Egress(), gw) is None
    assert egress.host_gateway(Egress(default="deny"), gw) == egress.HostGateway(gw, ())
    # A host-gateway rule naming no port: every port.
    assert egress.host_gateway(Egress(default="deny", allow=(EgressRule("host-gateway"),)), gw) is None
    # It loads from a file, is no network rule of its own, and says what it is.
    profile = load(tmp_path, "network:\n  mode: private\n  egress:\n    default: deny\n"
                             "    allow: [{cidr: host-gateway, ports: [5432], proto: tcp}]\n")
    rule = profile.egress.allow[0]  # type: ignore[attr-defined]
    assert rule.host_gateway and egress.describe_rule(rule) == (
        "tcp to the host's loopback (with --add-host NAME:host-gateway) port 5432")
    # Not an nftables rule (pasta forwards those ports onto the container's 127.0.0.1).
    text = rules_text(egress.build_ruleset(profile.egress))  # type: ignore[attr-defined]
    assert "5432" not in text and "default deny" in text


def test_the_resolvers_come_from_the_containers_resolv_conf(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("# generated\nsearch example.test\nnameserver 203.0.113.53\nnameserver fe80::1%eth0\n"
                    "nameserver not-an-address\noptions ndots:2\n")
    assert egress.nameservers(conf) == ("203.0.113.53", "fe80::1")
    assert egress.nameservers(tmp_path / "missing") == ()
    policy = Egress(default="deny", dns=True)
    ruleset = egress.rules_for_run(policy, "private", resolv_conf=conf)
    assert ruleset is not None
    text = rules_text(ruleset)
    assert "ip daddr 203.0.113.53 meta l4proto { tcp, udp } th dport 53 accept" in text
    assert "ip6 daddr fe80::1 meta l4proto { tcp, udp } th dport 53 accept" in text
    # Only a private network gets rules; a default-allow policy needs none.
    assert egress.rules_for_run(policy, "none", resolv_conf=conf) is None
    assert egress.rules_for_run(Egress(dns=True), "private", resolv_conf=conf) is None
