#!/usr/bin/env bash
# hardbox's main job on the bundled default: build a small image from busybox-static, import
# it, run it under the strict profile, scan it, and write the report to reports/.
set -euo pipefail
cd "$(dirname "$0")/.."
HB=${HARDBOX:-.venv/bin/hardbox}
mkdir -p reports
scripts/build-demo-image.sh reports/hardbox-demo.tar

echo "== import"
"$HB" image import reports/hardbox-demo.tar
"$HB" image history hardbox-demo
