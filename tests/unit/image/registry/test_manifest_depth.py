"""A registry's manifest nested a thousand levels deep is one RegistryError (exit 2), not a
RecursionError from the JSON decoder (issue 16 item 5)."""

from __future__ import annotations

import pytest

from hardbox.image.registry.errors import RegistryError
from hardbox.image.registry.manifests import Document, kind


def test_deep_manifest_is_refused() -> None:
    body = b'{"schemaVersion": 2, "manifests": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    doc = Document(body, "sha256:" + "0" * 64, "application/vnd.oci.image.index.v1+json", "127.0.0.1:5000/app:1")
    with pytest.raises(RegistryError, match=r"^127.0.0.1:5000/app:1: the manifest is nested deeper than 100 levels$"):
        kind(doc)
