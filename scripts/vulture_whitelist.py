"""Names vulture reports as unused that are used, each reviewed (issue 15 §10).

Run ``vulture hardbox scripts/vulture_whitelist.py --min-confidence 60``: what it still
lists is a candidate for deletion. Each line below names a use vulture cannot see — a
protocol the standard library calls, a field of a format the model mirrors, an attribute
set for a library, or an API the unit tests exercise. Never executed.
"""

# ruff: noqa: B018, F821

# io.RawIOBase protocol: tarfile and io.BufferedReader call these on the layer streams.
_.readable  # image/compression.py, image/digest.py
_.tell  # image/layer_stream.py

# Attributes set for the standard library: shlex's splitting, tarfile's group name.
_.whitespace  # dockerfile/shell.py
_.whitespace_split  # dockerfile/shell.py
_.gname  # image/export.py, minimize/build.py

# Docker's HEALTHCHECK, modelled whole: image/config.py's HealthCheck fields.
interval
start_period
retries

# Read by the unit tests that prove what they count.
compressed_size  # image/layer.py LayerResult (tests/unit/image/test_layer*.py)
file_count  # image/layer.py LayerResult
blobs_written  # image/store.py WriteStats (tests/unit/image/test_store.py)
blob_bytes
layers_unpacked
_.stage_names  # dockerfile/parser.py (tests/unit/dockerfile/test_dockerfile_parser.py)
_.compare  # scan/versions/base.py VersionScheme (tests/unit/scan/test_versions_*.py)

# The exit-code-1 error of the shared conventions (docs/architecture.md), tested as such.
PolicyFailed

# Protocol members: what a version value must offer (scan/versions/base.py Comparable).
__lt__
__le__
__eq__
