#!/usr/bin/env bash
# The README's first command: install hardbox and its system dependencies, then run its
# main job on the bundled default image (scripts/demo.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/demo.sh
