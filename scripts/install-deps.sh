#!/usr/bin/env bash
# Installs everything hardbox and its test suite need on Debian 12, as root:
# the system packages (kernel-facing tools and the real peers the tests compare against) and
# a virtualenv at .venv with hardbox installed (editable) plus its dev tools.
# Safe to run again: apt and pip skip what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
    echo "install-deps.sh: run as root (apt-get, namespaces and cgroups need it)" >&2
    exit 2
fi

# Debian packages:
#   python3-venv            the venv hardbox lives in
#   libseccomp2             the seccomp library pyseccomp binds to
#   uidmap                  newuidmap/newgidmap for rootless runs
#   busybox-static          the bundled default image and the tiny test image
#   umoci skopeo buildah    build, convert and inspect OCI images (fixtures + interop tests)
#   runc                    peer runtime: bundle tests and the run benchmark
#   debootstrap             a real Debian minbase root filesystem for tests
#   secilc setools          compile the SELinux CIL policy hardbox writes; seinfo reads a
#                           policy's port types (profile selinux, as udica does)
#   strace                  the minimizer's dynamic trace
#   golang-go default-jdk-headless  build a Go binary and a jar for the catalogers' tests
#   chromium                the HTML report is tested in a real headless browser
#   docker-registry         a real registry on loopback
#   iproute2 zstd gcc       network namespaces, zstd layers, test binaries
#   rpm libmaven3-core-java version-ordering oracles (rpm's and Maven's own comparison)
#   qemu-system-x86 e2fsprogs  a pure cgroup v2 VM for the v2 limits tests (tests/vmboot.py)
#   passt nftables          the container network: pasta uplink, nft --json egress rules
#   dnsmasq-base iperf3     the network tests' resolver and the throughput benchmark
#   openssh-server          the SFTP example image and its end-to-end test (sftp client)
#   podman                  peer for registry interop and the network benchmark
#   slirp4netns             podman 4.3's user-mode network, the network benchmark's peer
#   libdb-dev               builds the berkeleydb binding the rpm Berkeley DB tests write fixtures with
PACKAGES=(
    python3 python3-venv python3-dev gcc make git ca-certificates
    libseccomp2 uidmap iproute2 zstd
    busybox-static umoci skopeo buildah runc debootstrap secilc setools strace
    golang-go default-jdk-headless chromium docker-registry rpm libmaven3-core-java
    qemu-system-x86 e2fsprogs
    passt nftables dnsmasq-base iperf3 openssh-server openssh-client podman slirp4netns
    libdb-dev
)
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm (the npm cataloger's tests install real packages with it): Debian's package only when
# the machine has no npm of its own (a NodeSource nodejs bundles one and conflicts with it).
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# docker-registry and openssh-server start system services when installed; the tests start
# their own on loopback. Stop only what this run installed, never a service the host had.
if command -v systemctl >/dev/null 2>&1; then
    for svc in docker-registry:docker-registry ssh:openssh-server; do
        case " ${missing[*]:-} " in *" ${svc#*:} "*)
            systemctl is-active --quiet "${svc%%:*}" 2>/dev/null && systemctl disable --now "${svc%%:*}" || true ;;
        esac
    done
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip wheel
.venv/bin/python -m pip install -q -e '.[dev]'
echo "hardbox installed: $(.venv/bin/hardbox --version)  (activate with: . .venv/bin/activate)"
