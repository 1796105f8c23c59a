"""The SFTP server Dockerfile from the talk (seed/contain-your-enthusiasm-talk.txt), verbatim.

Every problem in it, with its line:
  1  FROM alpine:latest                 HB-DF-001 mutable tag
  1  (final stage has no USER)          HB-DF-003 runs as root (reported at the stage's FROM)
  5  MAINTAINER …                       HB-DF-002 deprecated
  9  apk add … bash openssh shadow      HB-DF-007 no version pins; HB-DF-014 installs an SSH server
 16  EXPOSE 22                          HB-DF-008 SSH
Deliberately not flagged: `apk add --no-cache` leaves no cache (HB-DF-006 negative); the exec-form
ENTRYPOINT is right (HB-DF-009 negative); ARG GIT_HASH is not a secret name; `rm -f
/etc/ssh/ssh_host_*key*` removes baked-in host keys, which is the right thing; no HEALTHCHECK is
not a lint finding because orchestrators (Kubernetes) ignore it and use their own probes.
"""

from __future__ import annotations

from pathlib import Path

from hardbox.dockerfile import lint_file

FIXTURE = Path(__file__).parents[2] / "fixtures" / "dockerfiles" / "sftp-server.Dockerfile"
# shared/ sits beside the checkout (in CI beside the fresh clone).
SEEDS = [Path(__file__).parents[4] / "shared" / "seed" / "contain-your-enthusiasm-talk.txt",
         Path("/work/shared/seed/contain-your-enthusiasm-talk.txt")]  # fmt: skip


def test_fixture_is_the_talk_example_verbatim() -> None:
    text = FIXTURE.read_text()
    assert text.startswith("FROM alpine:latest\n") and text.rstrip().endswith('ENTRYPOINT ["/entrypoint"]')
    seed = next((p for p in SEEDS if p.exists()), None)
    if seed is not None:
        assert text in seed.read_text()


def test_every_problem_is_reported_with_its_line() -> None:
    result = lint_file(FIXTURE)
    got = sorted((f.line, f.rule) for f in result.findings)
    assert got == [
        (1, "HB-DF-001"),
        (1, "HB-DF-003"),
        (5, "HB-DF-002"),
        (9, "HB-DF-007"),
        (9, "HB-DF-014"),
        (16, "HB-DF-008"),
    ]
    lines = FIXTURE.read_text().splitlines()
    assert lines[9 - 1].startswith("RUN apk add --no-cache bash openssh shadow")
    assert lines[16 - 1] == "EXPOSE 22"
    unpinned = next(f for f in result.findings if f.rule == "HB-DF-007")
    assert "bash, openssh, shadow" in unpinned.message
