"""OSV records written as YAML, as the PyPA advisory-database publishes them
(``vulns/<package>/PYSEC-*.yaml``); the OSV schema is format-neutral, so YAML records are
read into the same objects a JSON record decodes to.

Two YAML features would change what a record says, so the loader leaves them out:

- implicit timestamps: ``modified: 2021-07-05T00:01:22.043149Z`` stays the string the OSV
  model parses, instead of becoming a ``datetime`` that no JSON record holds;
- aliases: records never need them, and nested aliases (the "billion laughs" shape) expand
  exponentially when the record is stored as JSON. A record using one is refused.
"""

from __future__ import annotations

from typing import Any

import yaml


class _OsvLoader(yaml.SafeLoader):
    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise yaml.YAMLError("YAML aliases are not allowed in an OSV record")
        return super().compose_node(parent, index)


_OsvLoader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

YAML_SUFFIXES = (".yaml", ".yml")


def loads(data: bytes) -> Any:
    """One YAML document, as JSON would decode it. ``ValueError`` (one line) when it is not
    YAML or uses an alias; ``RecursionError`` when nested too deeply (the caller's damage)."""
    try:
        return yaml.load(data, Loader=_OsvLoader)  # a SafeLoader subclass: plain data only
    except yaml.YAMLError as err:
        raise ValueError(" ".join(str(err).split())) from None
