"""Where a reader finds more about an advisory or a hardbox rule: the URLs every report
links to (HTML anchors, Markdown links, SARIF ``helpUri``).

Every OSV advisory has a page at osv.dev whatever database it came from (GHSA, PYSEC, DSA,
…); a CVE alias also has its NVD page and a GHSA alias its GitHub advisory page. Ids come
from the vulnerability database, so they are hostile input: an alias gets an NVD or GitHub
link only when it has that id's exact syntax, and every id is percent-encoded into the path,
so no id can make a link point anywhere but the page it names.

hardbox's own rules link to the table of the docs page that lists them.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass

OSV = "https://osv.dev/vulnerability/"
NVD = "https://nvd.nist.gov/vuln/detail/"
GITHUB_ADVISORIES = "https://github.com/advisories/"
DOCS = "https://github.com/hardbox/hardbox/blob/main/docs/"

_CVE = re.compile(r"CVE-\d{4}-\d{4,}")
# GitHub's advisory ids: three groups of four from a 24-letter alphabet without look-alikes.
_GHSA = re.compile(r"GHSA(?:-[23456789cfghjmpqrvwx]{4}){3}")

# The docs section listing each family of hardbox rule (GitHub's heading anchors).
_RULE_DOCS = {"checks/config": "adding-a-check.md#checksconfig",
              "checks/files": "adding-a-check.md#checksfiles",
              "checks/devices": "adding-a-check.md#checksdevices",
              "checks/secrets": "adding-a-check.md#checkssecrets"}
_PREFIX_DOCS = {"HB-GATE-": "gate.md#findings-the-gate-adds", "HB-DF-": "gate.md#dockerfile-lint-rules",
                "HB-K8S-": "kubernetes.md#the-controls"}


@dataclass(frozen=True)
class Link:
    text: str  # the id shown
    url: str
    site: str  # "OSV", "NVD", "GitHub"


def _path(advisory_id: str) -> str:
    return urllib.parse.quote(advisory_id, safe="")


def advisory_url(advisory_id: str) -> str:
    """The advisory's page at osv.dev."""
    return OSV + _path(advisory_id)


def advisory_links(advisory_id: str, aliases: tuple[str, ...] = ()) -> tuple[Link, ...]:
    """The advisory's osv.dev page, then the NVD page of each CVE and the GitHub page of each
    GHSA among the id and its aliases (each page once)."""
    links = [Link(advisory_id, advisory_url(advisory_id), "OSV")]
    seen = {links[0].url}
    for name in (advisory_id, *aliases):
        if _CVE.fullmatch(name):
            link = Link(name, NVD + _path(name), "NVD")
        elif _GHSA.fullmatch(name):
            link = Link(name, GITHUB_ADVISORIES + _path(name), "GitHub")
        else:
            continue
        if link.url not in seen:
            seen.add(link.url)
            links.append(link)
    return tuple(links)


def rule_url(rule_id: str, family: str | None = None) -> str | None:
    """The docs anchor of a hardbox rule: its check family's table, or the gate page's for a
    gate or Dockerfile rule; None for an id hardbox does not document."""
    if family is not None and family in _RULE_DOCS:
        return DOCS + _RULE_DOCS[family]
    for prefix, page in _PREFIX_DOCS.items():
        if rule_id.startswith(prefix):
            return DOCS + page
    return None
