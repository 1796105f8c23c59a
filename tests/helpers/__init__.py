"""Builders and helpers shared by the test suites, importable as ``helpers.<module>`` from
any test (pyproject.toml's ``[tool.pytest.ini_options] pythonpath`` puts tests/ on the path):

- ``imagebuild``: real images from real parts (busybox-static, debootstrap, umoci, skopeo).
- ``scanimages``: the multi-layer images the scan and report tests read.
- ``layerdirs``: images made of layer directories in overlayfs lower-dir format.
- ``osv_fixtures``: OSV advisories written as the upstream databases ship them.
- ``hbrun``: a store with probe images for the ``hardbox run`` tests.
- ``cli``: ``hardbox`` (the real CLI in a subprocess), ``need_tool``, ``need_root``.
- ``k8s``: Kubernetes manifests for the gate --k8s tests.
- ``registry``: real registries (docker-registry, a token issuer) and the CLI as the registry
  tests run it; tests/integration/conftest.py holds their fixtures.
- ``httpserver``: a loopback HTTP(S) server whose handler a test writes, and ways to answer.
- ``tlsca``: a throwaway CA and certificates for 127.0.0.1.
- ``terminal``: reading a pty, and the CLI run with a terminal as its stderr.
"""
