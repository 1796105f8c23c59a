"""Names vulture reports as unused that are used, each reviewed (issue 15 §10).

Run ``vulture hardbox scripts/vulture_whitelist.py --min-confidence 60``: what it still
lists is a candidate for deletion. Each line below names a use vulture cannot see — a
protocol the standard library calls, a field of a format the model mirrors, an attribute
set for a library, or an API the unit tests exercise. Never executed.
"""

# ruff: noqa: B018, F821

# io.RawIOBase protocol: tarfile and io.BufferedReader call these on the layer streams.
_.readable  # image/layers/compression.py, image/digest.py
_.tell  # image/layers/stream.py

# Attributes set for the standard library: shlex's splitting, tarfile's group name.
_.whitespace  # dockerfile/shell.py
_.whitespace_split  # dockerfile/shell.py
_.gname  # image/formats/export.py, minimize/build.py

# Formats modelled whole: Docker's HEALTHCHECK (image/formats/config.py), os-release's ID_LIKE
# (scan/catalog/os_release.py), the kernel's bpf_attr (runtime/syscalls.py).
interval
start_period
retries
id_like
_.log_buf
_.log_level
_.log_size

# Read by name: findings.py SecretDetail.to_dict walks its field names.
matches_in_file

# Read by the unit tests that prove what they count.
compressed_size  # image/layers/unpack.py LayerResult (tests/unit/image/test_layer*.py)
file_count  # image/layers/unpack.py LayerResult
blobs_written  # image/store/store.py WriteStats (tests/unit/image/test_store.py)
blob_bytes
layers_unpacked
_.stage_names  # dockerfile/parser.py (tests/unit/dockerfile/test_dockerfile_parser.py)
_.compare  # scan/versions/base.py VersionScheme (tests/unit/scan/test_versions_*.py)
from_mask  # runtime/capabilities.py (tests/unit/runtime/test_capabilities.py)
_.pids_limit_hit  # runtime/cgroups (tests/unit/runtime/test_cgroups.py)
bpf_prog_query  # runtime/syscalls.py (tests/unit/runtime/test_cgroup_devices.py)
bpf_prog_get_fd_by_id
_.get_property  # scan/package.py (tests/unit/scan/test_catalog_*.py)
PR_GET_NO_NEW_PRIVS  # runtime/syscalls.py (tests/unit/runtime/test_syscalls.py)
extension  # report/ Reporter.extension (tests/unit/report/test_report_golden.py)

# The exit-code-1 error of the shared conventions (docs/architecture.md), tested as such.
PolicyFailed

# Protocol members: what a version value must offer (scan/versions/base.py Comparable).
__lt__
__le__
__eq__

# Read by libraries, not by hardbox: argcomplete reads an action's `completer`
# (cli/completion.py); argparse calls `_get_formatter` (cli/parser.py, sized without shutil).
_.completer
_._get_formatter

# Fields of a record read from the kernel, kept as the kernel gives them (runtime/net/host.py
# DefaultRoute: /proc/net/route's interface column, shown in debugging and tests).
_.interface

# A module's own __getattr__ (PEP 562), which Python calls for a name the module lacks:
# runtime/profile's NAME regex is compiled on first use (a cached run loads no re).
__getattr__  # runtime/profile/__init__.py

# The attributes CPython's C scanner reads from its context object (_json.make_scanner):
# jsontext.py's _Context is json.JSONDecoder's defaults.
_.object_hook  # jsontext.py
_.object_pairs_hook  # jsontext.py
_.parse_float  # jsontext.py
_.parse_int  # jsontext.py
_.parse_constant  # jsontext.py

# typing.NamedTuple's API, which hardbox/records.py keeps whole (tests/unit/test_records.py).
_._make  # records.py
