"""The secret rule set (policies/secrets/rules.yaml) and the file-content secret check.

Token samples are assembled at run time from their documented formats, so this file does
not itself look like it leaks anything.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers.cli import need_root
from helpers.layerdirs import image_of, walk_check

from hardbox.errors import InputError
from hardbox.scan.checks.interface import CheckOptions
from hardbox.scan.checks.secrets import SecretCheck, load_policy, redact
from hardbox.secrets import entropy

ALNUM = "aB3dE5gH7jK9mN1pQ2rS4tU6vW8xY0zC"


def _chars(n: int, alphabet: str = ALNUM) -> str:
    return (alphabet * (n // len(alphabet) + 1))[:n]


PEM = ("-----BEGIN OPENSSH PRIVATE KEY-----\n" + _chars(64) + "\n" + _chars(40)
       + "\n-----END OPENSSH PRIVATE KEY-----\n")
SAMPLES = {
    "HB-SEC-001": ("id = AKIA" + "Z7Q2MXW4RT6YBN3K\n", "AKIAZ7Q2MXW4RT6YBN3K"),
    "HB-SEC-002": ("aws_secret_access_key = " + _chars(40) + "\n", _chars(40)),
    "HB-SEC-003": ('{"type": "service_account", "project_id": "p", "private_key": '
                   '"-----BEGIN PRIVATE KEY-----\\n' + _chars(60) + '\\n-----END PRIVATE KEY-----\\n"}',
                   _chars(60)),
    "HB-SEC-004": ("DefaultEndpointsProtocol=https;AccountName=x;AccountKey=" + _chars(86) + "==;",
                   _chars(86)),
    "HB-SEC-005": ("token: ghp_" + _chars(36) + "\n", "ghp_" + _chars(36)),
    "HB-SEC-006": ("github_pat_" + _chars(82, ALNUM + "_"), "github_pat_" + _chars(82, ALNUM + "_")),
    "HB-SEC-007": ("GITLAB=glpat-" + _chars(20), "glpat-" + _chars(20)),
    "HB-SEC-008": ("SLACK=xoxb-" + "1234567890-" + _chars(24), "xoxb-1234567890-" + _chars(24)),
    "HB-SEC-009": ("stripe.api_key = 'sk_live_" + _chars(24) + "'", "sk_live_" + _chars(24)),
    "HB-SEC-010": (PEM, _chars(64)),
    "HB-SEC-011": ("Authorization: Bearer eyJ" + _chars(20) + ".eyJ" + _chars(30) + "." + _chars(43),
                   "eyJ" + _chars(20)),
    "HB-SEC-015": ("DATABASE_URL=postgres://app:" + "S3cr3tPassw0rd" + "@db.internal:5432/app",
                   "S3cr3tPassw0rd"),
    "HB-SEC-016": ("hook: https://hooks.slack.com/services/T" + "0A1B2C3D4/B" + "5E6F7G8H9/" + _chars(24),
                   _chars(24)),
    "HB-SEC-017": ("key=AIza" + _chars(35, ALNUM + "-_"), "AIza" + _chars(35, ALNUM + "-_")),
    "HB-SEC-018": ("NPM_TOKEN=npm_" + _chars(36), "npm_" + _chars(36)),
    "HB-SEC-019": ("pypi-AgEIcHlwaS5vcmc" + _chars(60), "pypi-AgEIcHlwaS5vcmc" + _chars(60)),
}
PATH_SAMPLES = {
    "HB-SEC-012": ("/root/.docker/config.json",
                   '{"auths": {"registry.example.com": {"auth": "' + _chars(24) + '"}}}', _chars(24)),
    "HB-SEC-013": ("/app/.npmrc", "//registry.npmjs.org/:_authToken=npm_" + _chars(36) + "\n",
                   "npm_" + _chars(36)),
    "HB-SEC-014": ("/root/.pypirc", "[pypi]\nusername = __token__\npassword = pypi-" + _chars(50),
                   "pypi-" + _chars(50)),
}


def test_every_rule_has_a_sample_here() -> None:
    ids = {r.id for r in load_policy().rules}
    assert ids == set(SAMPLES) | set(PATH_SAMPLES)


@pytest.mark.parametrize("rule_id", sorted(SAMPLES))
def test_rule_finds_its_format_and_redacts_it(rule_id: str) -> None:
    text, secret = SAMPLES[rule_id]
    matches = load_policy().find_text(text)
    assert [m.rule.id for m in matches] == [rule_id]
    assert secret not in matches[0].redacted
    assert matches[0].redacted.endswith("chars)")


@pytest.mark.parametrize("rule_id", sorted(PATH_SAMPLES))
def test_path_rules_only_apply_to_their_files(rule_id: str) -> None:
    path, text, secret = PATH_SAMPLES[rule_id]
    policy = load_policy()
    found = policy.find(text.encode(), path)
    assert rule_id in [m.rule.id for m in found]
    assert all(secret not in m.redacted for m in found)
    elsewhere = policy.find(text.encode(), "/srv/notes.txt")
    assert rule_id not in [m.rule.id for m in elsewhere]


@pytest.mark.parametrize("text", [
    "https://user:${PASSWORD}@example.com/",
    "postgres://user:password@localhost/db",
    "see http://example.com:8080/path for docs",
    "AKIA-is-a-prefix-not-a-key",
    "aws_secret_access_key = <your key here>",
    "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----",
])
def test_placeholders_and_lookalikes_are_not_secrets(text: str) -> None:
    assert load_policy().find_text(text) == []


# Documented examples and fillers (gitleaks' allow-list): never reported, and never taken
# for a credential by a variable's name either.
AWS_EXAMPLE_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_EXAMPLE_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.mark.parametrize("text", [
    "token: ghp_" + "x" * 36,
    "GITLAB=glpat-" + "0" * 20,
    f"aws_access_key_id = {AWS_EXAMPLE_ID}\naws_secret_access_key = {AWS_EXAMPLE_SECRET}\n",
    "https://hooks.slack.com/services/T00000000/B00000000/" + "X" * 24,  # Slack's docs
    "stripe.api_key = 'sk_live_" + "0" * 24 + "'",
])
def test_documented_examples_and_fillers_are_not_secrets(text: str) -> None:
    assert load_policy().find_text(text) == []


def test_the_allow_list_is_not_a_hole_a_real_token_of_the_same_shape_is_found() -> None:
    policy = load_policy()
    assert [m.rule.id for m in policy.find_text("ghp_" + _chars(36))] == ["HB-SEC-005"]
    assert [m.rule.id for m in policy.find_text("AKIAZ7Q2MXW4RT6YBN3K")] == ["HB-SEC-001"]
    assert policy.judge("AWS_SECRET_ACCESS_KEY", AWS_EXAMPLE_SECRET) is None
    verdict = policy.judge("AWS_SECRET_ACCESS_KEY", _chars(40))  # by its name
    assert verdict is not None and verdict.title == "Credential" and verdict.redacted == "aB3d… (40 chars)"


@pytest.mark.parametrize(("text", "found"), [
    # AWS access key ids: the four documented prefixes, 16 base32 characters (A-Z, 2-7).
    ("ASIAZ7Q2MXW4RT6YBN3K", True), ("ABIAZ7Q2MXW4RT6YBN3K", True), ("ACCAZ7Q2MXW4RT6YBN3K", True),
    ("AKIAZ7Q2MXW4RT6YBN31", False),  # 1 is not base32
    ("AKIAZ7Q2MXW4RT6YBN3", False),  # 15 after the prefix
    # A fine-grained GitHub token is github_pat_ and exactly 82 characters.
    ("github_pat_" + _chars(82, ALNUM + "_"), True),
    ("github_pat_" + _chars(70, ALNUM + "_"), False),
])
def test_formats_follow_their_issuers(text: str, found: bool) -> None:
    assert bool(load_policy().find_text(text)) is found


@pytest.mark.parametrize(("name", "secret"), [
    ("DB_PASSWORD", True), ("dbPassword", True), ("GITHUB_TOKEN", True), ("USER_PASSWORD", True),
    ("AWS_SECRET_ACCESS_KEY", True), ("api-key", True), ("AUTH", True),
    ("PASSWORD_FILE", False), ("TOKEN_URL", False), ("AWS_ACCESS_KEY_ID", False),
    ("GPG_KEY", False), ("PUBLIC_KEY", False), ("org.opencontainers.image.authors", False),
    ("KEYBOARD", False), ("GIT_HASH", False),
])
def test_credential_names(name: str, secret: bool) -> None:
    assert load_policy().names.secret_name(name) is secret


def test_entropy_tells_a_token_from_a_filler() -> None:
    assert entropy("ghp_" + "x" * 36) < 1 < 3 < entropy("ghp_" + _chars(36))
    assert entropy("") == 0


def test_a_gcp_key_file_is_one_finding_not_also_a_bare_private_key() -> None:
    text, _ = SAMPLES["HB-SEC-003"]
    assert [m.rule.id for m in load_policy().find_text(text)] == ["HB-SEC-003"]


def test_redact_keeps_at_most_a_quarter_and_the_length() -> None:
    assert redact("AKIAZ7Q2MXW4RT6YBN3K") == "AKIA… (20 chars)"
    assert redact("hunter2") == "h… (7 chars)"
    assert redact("abc") == "… (3 chars)"


def test_scrub_replaces_every_match_in_text() -> None:
    text = "curl -H 'token: ghp_" + _chars(36) + "' https://api"
    scrubbed = load_policy().scrub(text)
    assert "ghp_" + _chars(36) not in scrubbed
    assert "<redacted:ghp_…(40chars)>" in scrubbed and scrubbed.startswith("curl -H")


def test_a_broken_rule_file_is_one_error_naming_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "rules.yaml"
    bad.write_text("version: 1\nlimits: {max_file_size: 10, binary_probe: 10, "
                   "max_findings_per_file: 1}\nnames: {secret: [token], public: [], pointer: [], "
                   "plain_values: ''}\nrules:\n  - id: HB-SEC-001\n    title: t\n"
                   "    severity: dreadful\n    keywords: [x]\n    regex: x\n    why: w\n    fix: f\n")
    with pytest.raises(InputError, match=r"rules\.yaml: rules/0/severity: 'dreadful' is not one of"):
        load_policy(bad)
    bad.write_text(bad.read_text().replace("dreadful", "high").replace("regex: x", "regex: '(x'"))
    with pytest.raises(InputError, match=r"rules/0 \(HB-SEC-001\): bad regex"):
        load_policy(bad)


# The file-content check, through the real walk.

def scan_layers(dirs: list[Path]) -> SecretCheck:
    return walk_check(SecretCheck, image_of(*dirs))


def test_binaries_large_files_and_documentation_are_skipped(tmp_path: Path) -> None:
    layer = tmp_path / "l0"
    text, _ = SAMPLES["HB-SEC-005"]
    (layer / "app").mkdir(parents=True)
    (layer / "app/config.env").write_text(text)
    (layer / "app/tool.bin").write_bytes(b"\x7fELF\0\0" + text.encode())
    limit = load_policy().max_file_size
    (layer / "app/huge.log").write_bytes(text.encode() + b"x" * limit)
    (layer / "usr/share/doc/pkg").mkdir(parents=True)
    (layer / "usr/share/doc/pkg/README").write_text(text)
    check = scan_layers([layer])
    assert [f.path for f in check.findings()] == ["/app/config.env"]
    assert check.skipped["binary"] == 1 and check.skipped["too large"] == 1


def test_a_secret_in_a_deleted_file_points_at_the_layer_that_ships_it(tmp_path: Path) -> None:
    need_root()
    first, second = tmp_path / "l0", tmp_path / "l1"
    text, secret = SAMPLES["HB-SEC-002"]
    (first / "root").mkdir(parents=True)
    (first / "root/keys.txt").write_text(text)
    (second / "root").mkdir(parents=True)
    os.mknod(second / "root/keys.txt", 0o600 | 0o020000, os.makedev(0, 0))
    (finding,) = scan_layers([first, second]).findings()
    assert finding.id == "HB-SEC-002" and finding.layer is not None and finding.layer.index == 0
    assert finding.secret and finding.secret.deleted is True and "still ships in layer 0" in finding.detail
    assert secret not in repr(finding)


def test_skip_secrets_turns_file_reading_off(tmp_path: Path) -> None:
    layer = tmp_path / "l0"
    layer.mkdir()
    (layer / "env").write_text(SAMPLES["HB-SEC-005"][0])
    check = walk_check(SecretCheck, image_of(layer), CheckOptions(secrets=False))
    assert check.findings() == []


def test_the_shipped_rule_set_is_valid_against_its_schema() -> None:
    """Scans trust the shipped file without validating it (jsonschema is slow to import);
    this test is where it is validated."""
    import jsonschema
    import yaml

    from hardbox.resources import policies
    from hardbox.secrets import load

    doc = yaml.safe_load((policies() / "secrets" / "rules.yaml").read_text(encoding="utf-8"))
    jsonschema.validate(doc, load._SCHEMA)
    # And the same file through the validating path gives the same rules.
    validated = load_policy(policies() / "secrets" / "rules.yaml")
    assert [r.id for r in validated.rules] == [r.id for r in load_policy().rules]
