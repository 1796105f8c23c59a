"""The OCI distribution client (Docker registry v2 with OCI manifests, as distribution 2.8
and Docker Hub speak it), on the HTTP layer of ``hardbox.net``.

API::

    from hardbox.net import Session
    from hardbox.net.authfile import lookup
    from hardbox.image.registry import refs
    from hardbox.image.registry.client import RegistryClient
    from hardbox.image.registry.pull import pull

    ref = refs.parse("docker://127.0.0.1:5000/app:1")     # or a bare "app:1" (docker.io)
    client = RegistryClient(ref.domain, Session(), lookup(refs.auth_key(ref.domain)))
    client = connect(ref.domain, tls_verify=True)          # the same, in one call
    pulled = pull(store, client, ref, platform=None, progress=None)
    pulled.image.id, pulled.manifest_digest

Modules, one job each:

- ``refs`` — ``docker://REF``/``REF`` parsing (short names are not guessed: ``bbtest`` is
  ``docker.io/library/bbtest``), the endpoint of a domain (``$HARDBOX_REGISTRY_MIRROR``
  for docker.io), the key a registry has in auth files (a mirror's own, never Docker Hub's).
- ``auth`` — ``WWW-Authenticate`` challenges, Bearer tokens cached per scope set until
  expiry and reused for every scope they cover, Basic.
- ``client`` — ``RegistryClient``: ping, manifest (≤ 4 MiB, digest-verified), blob
  (streaming, ``Range``), tags; redirects followed without carrying ``Authorization`` to
  another host; one auth round per request (a 401 loop is refused).
- ``manifests`` — classify a manifest document, refuse schema 1 and non-image artifacts,
  choose the platform from an index.
- ``downloads`` — bounded parallel blob downloads into spool files that the import reads as
  they grow; sizes and digests verified, broken bodies resumed with ``Range``.
- ``pull`` — ``pull(store, client, ref)``: through the store's import ``Transaction``, so a
  pull is verified, unpacked and published atomically, and blobs already stored are skipped.
- ``push`` — ``push(store, client, image, dest)``: the stored blobs and manifest, unchanged;
  blobs the registry has are skipped (HEAD), blobs another repository of it holds are
  mounted, the rest uploaded in one PUT or in PATCH chunks.

Errors are ``RegistryError``/``AuthError`` (exit 2) and ``BlobError`` (an ``InvalidImage``);
HTTP failures are ``hardbox.net.NetError`` (exit 2).
"""
