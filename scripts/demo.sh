#!/usr/bin/env bash
# hardbox's main job on the bundled default: build a small image from Debian's busybox-static,
# import it, run it under the strict profile, fetch the advisories for its packages, scan it
# and minimize it, with every report written under reports/.
set -euo pipefail
cd "$(dirname "$0")/.."
HB=${HARDBOX:-.venv/bin/hardbox}
mkdir -p reports

step() { printf '\n== %s\n' "$*"; }

step "build the bundled image (busybox-static, umoci, skopeo)"
scripts/build-demo-image.sh reports/hardbox-demo.tar

step "hardbox image import reports/hardbox-demo.tar"
"$HB" image import reports/hardbox-demo.tar
"$HB" image history hardbox-demo

step "hardbox run --profile strict --explain hardbox-demo"
"$HB" run --profile strict --explain hardbox-demo

step "hardbox run --rm --profile strict hardbox-demo (what the container sees)"
"$HB" run --rm --profile strict hardbox-demo /bin/sh -c '
    echo "uid map: $(cat /proc/self/uid_map | tr -s " ")"
    grep -E "^(CapEff|NoNewPrivs|Seccomp):" /proc/self/status
    echo "network: $(ls /sys/class/net | tr "\n" " ")"
    touch /probe 2>/dev/null && echo "root: writable" || echo "root: read-only"
    unshare -U true 2>/dev/null && echo "nested userns: allowed" || echo "nested userns: refused"'

step "hardbox db update (the advisories of the image's ecosystems, from osv.dev)"
# Offline (no route to osv.dev) this fails in one line and the demo goes on: the scan then
# says which packages it could not check, and the gate fails on that gap.
if ! HARDBOX_NET_TIMEOUT=${HARDBOX_NET_TIMEOUT:-5} "$HB" -q db update 2>reports/db-update.err; then
    echo "no advisories fetched (offline?): $(head -n 1 reports/db-update.err | sed 's/^hardbox: //')"
fi
rm -f reports/db-update.err

step "hardbox scan hardbox-demo (reports/)"
"$HB" scan hardbox-demo --html reports/hardbox-demo.html --json reports/hardbox-demo.json \
    --sarif reports/hardbox-demo.sarif --markdown reports/hardbox-demo.md

step "hardbox minimize hardbox-demo (reports/)"
"$HB" minimize hardbox-demo --tag hardbox-demo:min --probe "sh -c 'ls /etc; id -u'" \
    --report reports/hardbox-demo-minimize.html

step "hardbox gate hardbox-demo (the shipped default policy)"
"$HB" gate hardbox-demo --junit reports/hardbox-demo-gate.xml || echo "(gate exit $?: see the reasons above)"

printf '\nreports written: %s\n' "$(ls reports | tr '\n' ' ')"
