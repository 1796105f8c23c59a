#!/usr/bin/env bash
# Builds the bundled default image from Debian's busybox-static, with umoci and skopeo:
# one layer (busybox and its applets, /etc/passwd with an unprivileged user), cmd /bin/sh,
# user 1000. Writes a docker-archive tar tagged hardbox-demo:latest to the path given.
# As distroless images do, it says where its binary came from: the host's dpkg record of
# busybox-static in /var/lib/dpkg/status.d/ and the host's /etc/os-release (Debian 12), so
# a scan knows the package and which advisories (Debian:12) cover it.
set -euo pipefail
out=${1:?usage: build-demo-image.sh OUT.tar}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

umoci init --layout "$work/layout"
umoci new --image "$work/layout:latest"
umoci unpack --image "$work/layout:latest" "$work/bundle" >/dev/null
root="$work/bundle/rootfs"
mkdir -p "$root"/{bin,etc,tmp,root,home/user,proc,dev,sys}
chmod 1777 "$root/tmp"
cp /bin/busybox "$root/bin/busybox"
for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n' > "$root/etc/passwd"
printf 'root:x:0:\nuser:x:1000:\n' > "$root/etc/group"
mkdir -p "$root/var/lib/dpkg/status.d"
dpkg-query --status busybox-static > "$root/var/lib/dpkg/status.d/busybox-static"
cp /etc/os-release "$root/etc/os-release"
chown 1000:1000 "$root/home/user"
umoci repack --image "$work/layout:latest" --history.created_by "COPY busybox-static /" "$work/bundle"
umoci config --image "$work/layout:latest" --config.cmd=/bin/sh --config.user=1000 \
    --config.workingdir=/home/user --config.label=org.opencontainers.image.title=hardbox-demo
rm -f "$out"
skopeo copy -q "oci:$work/layout:latest" "docker-archive:$out:hardbox-demo:latest"
echo "built $out"
