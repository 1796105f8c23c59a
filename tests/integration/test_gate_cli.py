"""``hardbox gate`` end to end through the real CLI, on real images built by the tests
(busybox-static with umoci/skopeo; the debootstrap Debian minbase), a vulnerability database
imported with ``hardbox db import`` from OSV records, and real exceptions/VEX files."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import imagebuild
from helpers.cli import hardbox, need_root, need_tool

TODAY = dt.datetime.now(dt.UTC).date()


def osv(advisory_id: str, ecosystem: str, name: str, fixed: str, alias: str) -> dict[str, object]:
    """One OSV record (ossf.github.io/osv-schema) with a CVSS v3.1 critical score."""
    return {
        "schema_version": "1.6.0", "id": advisory_id, "modified": "2024-05-01T00:00:00Z",
        "aliases": [alias], "summary": f"test advisory for {name}",
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
        "affected": [{"package": {"ecosystem": ecosystem, "name": name},
                      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}],
    }  # fmt: skip


def write_feed(folder: Path) -> Path:
    """A critical, fixable advisory for Debian's zlib (source package of zlib1g)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "DEBIAN-CVE-2099-0001.json").write_text(
        json.dumps(osv("DEBIAN-CVE-2099-0001", "Debian:12", "zlib", "1:1.2.13.dfsg-9", "CVE-2099-0001"))
    )
    return folder


@pytest.fixture(scope="module")
def root_busybox(image_workdir: Path) -> Path:
    """busybox-static with USER 0 and a LABEL, as a docker-archive."""
    need_tool("umoci", "skopeo")
    image = imagebuild.busybox_image(image_workdir / "gate-root", user="0")
    image.configure("--config.label=org.opencontainers.image.source=https://example.com/app")
    return image.docker_archive(image_workdir / "gate-root.tar", "gate-root:latest")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, root_busybox: Path, busybox_archive: Path) -> Iterator[Path]:
    """One store for the module: the vulnerability DB and both busybox images imported once
    (tagged gate-root:latest and bbtest:latest), so each test runs only the gate."""
    root = tmp_path_factory.mktemp("gate-store")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HARDBOX_ROOT", str(root / "store"))
        hardbox("db", "import", str(write_feed(root / "osv")), check=True)
        hardbox("image", "import", str(root_busybox), check=True)
        hardbox("image", "import", str(busybox_archive), check=True)
        yield root / "store"


def test_root_busybox_fails_the_default_policy(store: Path, tmp_path: Path) -> None:
    junit = tmp_path / "gate.xml"
    proc = hardbox("gate", "gate-root", "--junit", str(junit), "--json", str(tmp_path / "g.json"))
    assert proc.returncode == 1, proc.stderr
    assert "FAILED policy default" in proc.stdout
    assert "FAIL  does not run as root" in proc.stdout
    assert "HB-CFG-001" in proc.stdout and "fix:" in proc.stdout
    assert "pass  no secrets in the image" in proc.stdout
    # The JUnit report is read by a JUnit XML parser.
    junitparser = pytest.importorskip("junitparser", reason="junitparser (dev dependency) reads the JUnit XML")
    (suite,) = list(junitparser.JUnitXml.fromfile(str(junit)))
    failed = [case.name for case in suite if not case.is_passed]
    assert failed == ["forbid.root-user: does not run as root"]
    body = json.loads((tmp_path / "g.json").read_text())
    assert body["passed"] is False and body["policy"]["name"] == "default"


def test_non_root_busybox_passes_the_default_policy(store: Path, busybox_archive: Path, tmp_path: Path) -> None:
    # By transport name too: the image is imported into a temporary store and judged.
    proc = hardbox("gate", f"docker-archive:{busybox_archive}", "--markdown", str(tmp_path / "g.md"),
                   "--sarif", str(tmp_path / "g.sarif"))  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PASSED policy default" in proc.stdout and "all 3 rules passed" in proc.stdout
    assert "✅ passed" in (tmp_path / "g.md").read_text()
    assert json.loads((tmp_path / "g.sarif").read_text())["runs"][0]["results"] == []


def test_no_database_fails_closed(busybox_archive: Path, hardbox_root: Path) -> None:
    # hardbox_root: a fresh, empty store with no vulnerability database.
    proc = hardbox("gate", f"docker-archive:{busybox_archive}")
    assert proc.returncode == 1
    assert "HB-GATE-011" in proc.stdout and "hardbox db import" in proc.stdout


def test_policy_labels_size_profile_and_dockerfile(store: Path, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "version: 1\nname: team\nrequired_labels: [org.opencontainers.image.source, org.opencontainers.image.revision]\n"
        "max_size: 1kB\nprofile:\n  name: strict\ndockerfile:\n  fail_on: medium\n"
    )
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM busybox\nCOPY app /app\nUSER 1000\n")
    proc = hardbox("gate", "gate-root", "--policy", str(policy), "--dockerfile", str(dockerfile))
    assert proc.returncode == 1
    out = proc.stdout
    assert "label org.opencontainers.image.revision is missing" in out
    assert "label org.opencontainers.image.source" not in out.replace("labels org.opencontainers.image.source", "")
    assert "HB-GATE-002" in out
    # A root image runs under strict (as an unprivileged host uid, in the user namespace):
    # the profile check no longer claims a refusal (issue 16 item 4); `forbid: [root-user]`
    # is how a policy refuses root images.
    assert "refuses uid 0" not in out
    assert f"HB-DF-001: FROM busybox has no tag, so it means :latest at {dockerfile}:1" in out


def test_shipped_example_strict_policy(store: Path) -> None:
    policy = Path(__file__).parents[2] / "policies" / "gate" / "example-strict.yaml"
    proc = hardbox("gate", "bbtest", "--policy", str(policy))
    assert proc.returncode == 1
    out = proc.stdout
    assert "FAIL  labels org.opencontainers.image.source, org.opencontainers.image.revision are set" in out
    assert "OS unknown is not allowed" in out and "no readable /etc/os-release" in out
    # busybox as uid 1000 with no ports or volumes fits the strict profile.
    assert "pass  runs under profile strict (static check)" in out
    assert "pass  no setuid/setgid files" in out


def test_exceptions_and_expiry(store: Path, tmp_path: Path) -> None:
    exceptions = tmp_path / "exceptions.yaml"
    exceptions.write_text(
        "version: 1\nexceptions:\n"
        f"  - check: HB-CFG-001\n    reason: legacy init needs root\n    approved_by: alice\n    expires: {TODAY + dt.timedelta(days=10)}\n"
        f"  - check: HB-FILE-*\n    reason: old one\n    approved_by: bob\n    expires: {TODAY - dt.timedelta(days=1)}\n"
    )
    proc = hardbox("gate", "gate-root", "--exceptions", str(exceptions))
    assert proc.returncode == 0, proc.stdout
    assert "waived HB-CFG-001" in proc.stdout and "alice" in proc.stdout
    assert "expired exception (not applied): check HB-FILE-*" in proc.stdout


@pytest.mark.parametrize(
    ("option", "content", "message"),
    [
        ("--policy", "version: 1\nforbid: [nope]\n", ":2: forbid.0:"),
        ("--exceptions", "version: 1\nexceptions:\n  - check: X\n", ":3: exceptions.0:"),
        ("--vex", "{}", "neither OpenVEX"),
        ("--dockerfile", "FROM a\nBOGUS x\n", ":2: unknown instruction"),
    ],
)
def test_bad_inputs_exit_2_naming_the_file(store: Path, tmp_path: Path, option: str, content: str, message: str) -> None:
    path = tmp_path / "input"
    path.write_text(content)
    proc = hardbox("gate", "bbtest", option, str(path))
    assert proc.returncode == 2
    (line, *_) = proc.stderr.splitlines()
    assert str(path) in line and message in line


def test_bad_image_and_profile_exit_2(tmp_path: Path, hardbox_root: Path) -> None:
    assert hardbox("gate", f"docker-archive:{tmp_path / 'none.tar'}").returncode == 2
    garbage = tmp_path / "garbage.tar"
    garbage.write_bytes(b"not a tar")
    assert hardbox("gate", f"docker-archive:{garbage}").returncode == 2
    assert hardbox("gate", "no-such-image:1").returncode == 2
    proc = hardbox("gate", "whatever", "--profile", "no-such-profile")
    assert proc.returncode == 2 and "no-such-profile" in proc.stderr


@pytest.mark.slow
@pytest.mark.root
def test_fixable_critical_vulnerability_fails_then_vex_waives_it(
    debian_layout: imagebuild.OciImage, store: Path, tmp_path: Path
) -> None:
    need_root()
    # The shared Debian image runs as root; this test is about vulnerabilities only.
    policy = tmp_path / "vulns.yaml"
    policy.write_text("version: 1\nvulnerabilities:\n  severities: [critical, high]\n")
    hardbox("image", "import", f"oci:{debian_layout.layout}:{debian_layout.tag}", "--tag", "gate-debian:12", check=True)
    name = "gate-debian:12"
    proc = hardbox("gate", name, "--policy", str(policy), "--json", str(tmp_path / "g.json"))
    assert proc.returncode == 1, proc.stderr
    assert "DEBIAN-CVE-2099-0001 zlib1g 1:1.2.13.dfsg-1" in proc.stdout
    failing = json.loads((tmp_path / "g.json").read_text())["rules"][0]["findings"]
    assert [f["id"] for f in failing] == ["DEBIAN-CVE-2099-0001"]
    vex = tmp_path / "app.openvex.json"
    vex.write_text(json.dumps({
        "@context": "https://openvex.dev/ns/v0.2.0", "@id": "https://example.com/vex/1",
        "author": "test", "timestamp": "2024-05-01T00:00:00Z", "version": 1,
        "statements": [{"vulnerability": {"name": "CVE-2099-0001"}, "products": [{"@id": "pkg:oci/app"}],
                        "status": "not_affected", "justification": "vulnerable_code_not_in_execute_path"}],
    }))  # fmt: skip
    waived = hardbox("gate", name, "--policy", str(policy), "--vex", str(vex))
    assert waived.returncode == 0, waived.stdout
    assert "not affected DEBIAN-CVE-2099-0001" in waived.stdout


@pytest.mark.root
def test_probe_runs_the_image_under_the_profile(store: Path, busybox_archive: Path) -> None:
    need_root()
    ok = hardbox("gate", "bbtest", "--profile", "default", "--probe", "test -x /bin/busybox")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = hardbox("gate", "bbtest", "--profile", "default", "--probe", "exit 3")
    assert bad.returncode == 1
    assert "probe `exit 3` under profile default exited 3" in bad.stdout
    files = hardbox("gate", f"docker-archive:{busybox_archive}", "--probe", "true")
    assert files.returncode == 2 and "hardbox image import" in files.stderr
