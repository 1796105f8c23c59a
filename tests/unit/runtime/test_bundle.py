"""`hardbox bundle`'s pieces (issue 18): the merge never reproduces a device node and says
which it left out (in the merged view: a later layer may delete or replace one), the store's
own skip records join that list, and config.json mounts what `hardbox run` mounts, with a
device allow-list and no inheritable or ambient capabilities."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from types import SimpleNamespace

import pytest

from hardbox.image.formats.config import ImageConfig
from hardbox.image.layers.apply import DeviceNode, SkippedEntry
from hardbox.image.layers.compression import Compression
from hardbox.image.layers.unpack import LayerResult
from hardbox.runtime.mounts import HOST_SYSFS_MASKS, MountPlan, describe
from hardbox.runtime.profile.bundle import _owner, bundle_config
from hardbox.runtime.profile.bundle_record import left_out_record, recorded_devices
from hardbox.runtime.profile.bundle_rootfs import LeftOut, Merged, merge_layers
from hardbox.runtime.profile.load import load_profile

BLOCK, CHAR = stat.S_IFBLK | 0o660, stat.S_IFCHR | 0o666


def need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: mknod of real device nodes")


def test_merge_creates_no_device_node_and_lists_those_of_the_merged_view(tmp_path: Path) -> None:
    need_root()
    lower, upper, dest = tmp_path / "l1", tmp_path / "l2", tmp_path / "rootfs"
    for d in (lower / "dev", lower / "gone", lower / "opaque", upper / "dev", upper / "opaque", dest):
        d.mkdir(parents=True)
    os.mknod(lower / "dev" / "sda", BLOCK, os.makedev(8, 0))
    os.mknod(lower / "dev" / "kvm", CHAR, os.makedev(10, 232))
    os.mknod(lower / "dev" / "replaced", CHAR, os.makedev(1, 1))
    os.mknod(lower / "gone" / "loop0", BLOCK, os.makedev(7, 0))
    os.mknod(lower / "opaque" / "mem", CHAR, os.makedev(1, 1))
    os.mkfifo(lower / "fifo")
    (upper / "dev" / "replaced").write_text("a later layer's regular file")
    os.mknod(upper / "gone", stat.S_IFCHR | 0o600, os.makedev(0, 0))  # whiteout of the dir
    os.setxattr(upper / "opaque", "trusted.overlay.opaque", b"y")
    os.mknod(upper / "dev" / "port", CHAR, os.makedev(1, 4))  # a node the upper layer adds

    merged = merge_layers([lower, upper], dest)

    devices = [
        os.path.join(root, n) for root, dirs, files in os.walk(dest) for n in (*dirs, *files)
        if stat.S_ISBLK(os.lstat(os.path.join(root, n)).st_mode)
        or stat.S_ISCHR(os.lstat(os.path.join(root, n)).st_mode)
    ]
    assert devices == []
    assert {p: (n.layer, n.reason.split(" left out")[0]) for p, n in merged.left_out.items()} == {
        "/dev/sda": (0, "block device 8:0"),
        "/dev/kvm": (0, "character device 10:232"),
        "/dev/port": (1, "character device 1:4"),
    }
    assert (dest / "dev" / "replaced").read_text() == "a later layer's regular file"
    assert not (dest / "gone").exists() and os.listdir(dest / "opaque") == []
    assert stat.S_ISFIFO(os.lstat(dest / "fifo").st_mode)  # inert: kept


def test_a_device_node_replaces_what_a_lower_layer_had_there(tmp_path: Path) -> None:
    need_root()
    lower, upper, dest = tmp_path / "l1", tmp_path / "l2", tmp_path / "rootfs"
    for d in (lower / "etc", upper / "etc", dest):
        d.mkdir(parents=True)
    (lower / "etc" / "shadow").write_text("root:secret")
    os.mknod(upper / "etc" / "shadow", CHAR, os.makedev(1, 1))
    merged = merge_layers([lower, upper], dest)
    assert not os.path.lexists(dest / "etc" / "shadow")  # neither the node nor the old file
    assert list(merged.left_out) == ["/etc/shadow"]


def test_nodes_the_store_recorded_replace_lower_files_and_stay_confined(tmp_path: Path) -> None:
    """A store that keeps device nodes as data has nothing at their path in the layer dir:
    the merge still removes what a lower layer had there, never through an image symlink."""
    lower, upper, dest, outside = (tmp_path / n for n in ("l1", "l2", "rootfs", "host"))
    for d in (lower / "etc", upper, dest, outside):
        d.mkdir(parents=True)
    (lower / "etc" / "shadow").write_text("root:secret")
    (outside / "victim").write_text("a host file")
    (lower / "escape").symlink_to(outside)  # absolute: on the host it points at `outside`
    recorded = [[], [LeftOut("/etc/shadow", 1, "c 1:1"), LeftOut("/escape/victim", 1, "b 8:0")]]
    merged = merge_layers([lower, upper], dest, None, recorded)
    assert not os.path.lexists(dest / "etc" / "shadow")
    assert (outside / "victim").read_text() == "a host file"
    assert sorted(merged.left_out) == ["/escape/victim", "/etc/shadow"]


def test_the_store_records_become_the_bundle_list(tmp_path: Path) -> None:
    """What the store wrote beside a layer dir (LayerResult.to_json, the real writer): its
    device nodes feed the merge, its skipped entries join the list, each with its layer."""
    layer_dir = tmp_path / "layers" / "ab"
    layer_dir.mkdir(parents=True)
    diff_id = "sha256:" + "ab" * 32
    record = LayerResult(
        diff_id=diff_id, compression=Compression.GZIP, compressed_size=1, size=1, file_count=1,
        skipped=(SkippedEntry("./etc/odd", "not representable"),),
        devices=(DeviceNode("dev/sda", "b", 8, 0, 0o660, 0, 6),),
    )
    Path(f"{layer_dir}.json").write_text(json.dumps(record.to_json()))
    plain = tmp_path / "dir-transport"  # a dir: image has no record
    plain.mkdir()
    image = SimpleNamespace(layers=[SimpleNamespace(path=layer_dir, diff_id=diff_id),
                                    SimpleNamespace(path=plain, diff_id="sha256:" + "cd" * 32)])
    assert recorded_devices(plain, 1) == []
    recorded = recorded_devices(layer_dir, 0)
    assert recorded == [LeftOut("/dev/sda", 0, "block device 8:0 left out: a bundle holds no device nodes")]
    merged = Merged(left_out={n.path: n for n in recorded})
    merged.left_out["/dev/kvm"] = LeftOut("/dev/kvm", 1, "character device 10:232 left out")
    assert left_out_record(image, merged) == [
        {"path": "/dev/kvm", "layer": "sha256:" + "cd" * 32, "reason": "character device 10:232 left out"},
        {"path": "/dev/sda", "layer": diff_id, "reason": recorded[0].reason},
        {"path": "/etc/odd", "layer": diff_id, "reason": "not representable"},
    ]


def _config(profile_name: str) -> dict:
    image = ImageConfig.from_obj({"os": "linux", "architecture": "amd64",
                                  "rootfs": {"type": "layers", "diff_ids": []},
                                  "config": {"Cmd": ["/bin/sh"]}}, "test")
    return bundle_config(load_profile(profile_name), image, Path("/nonexistent"))


@pytest.mark.parametrize("name", ["strict", "default"])
def test_config_mounts_what_hardbox_run_mounts(name: str) -> None:
    profile = load_profile(name)
    config = _config(name)
    plan = MountPlan(root="unused", read_only_root=profile.read_only_root,
                     tmpfs_noexec=profile.tmpfs_noexec, masked_paths=(), readonly_paths=(),
                     volumes=(), own_netns=True, host_tty=False)
    run_mounts = {line.split()[0] for line in describe(plan)} - {"/"}  # the root is the bundle's
    assert {m["destination"] for m in config["mounts"]} == run_mounts
    by_dest = {m["destination"]: m for m in config["mounts"]}
    assert "noexec" in by_dest["/dev"]["options"]  # as _mount_dev: nothing in /dev runs
    assert "mode=755" in by_dest["/run"]["options"] and "mode=1777" in by_dest["/tmp"]["options"]
    for dest in ("/tmp", "/run"):
        assert {"nosuid", "nodev"} <= set(by_dest[dest]["options"])
        assert ("noexec" in by_dest[dest]["options"]) == profile.tmpfs_noexec


@pytest.mark.parametrize("name", ["strict", "default"])
def test_config_denies_devices_and_keeps_no_inheritable_or_ambient(name: str) -> None:
    config = _config(name)
    caps = config["process"]["capabilities"]
    assert caps["inheritable"] == [] and caps["ambient"] == []
    assert caps["bounding"] == caps["permitted"] == caps["effective"] == list(load_profile(name).capabilities)
    rules = config["linux"]["resources"]["devices"]
    assert rules[0] == {"allow": False, "access": "rwm"}  # deny all first
    assert all(r["allow"] for r in rules[1:])
    # the list `hardbox run` applies (cgroups/devices.py): mknod of any node, open of these
    opened = {(r["type"], r["major"], r.get("minor")) for r in rules[1:] if "r" in r["access"]}
    assert opened == {("c", 1, 3), ("c", 1, 5), ("c", 1, 7), ("c", 1, 8), ("c", 1, 9),
                      ("c", 5, 0), ("c", 5, 2), ("c", 136, None)}
    assert [r for r in rules[1:] if "r" not in r["access"]] == [
        {"allow": True, "type": "c", "access": "m"}, {"allow": True, "type": "b", "access": "m"},
    ]


def test_the_bundle_belongs_to_the_container_root_host_id() -> None:
    config = _config("strict")
    root_uid = next(m["hostID"] for m in config["linux"]["uidMappings"] if m["containerID"] == 0)
    assert _owner(config)[0] == root_uid
    assert root_uid != 0 or os.geteuid() == 0
    no_userns = _config("strict")
    del no_userns["linux"]["uidMappings"], no_userns["linux"]["gidMappings"]
    assert _owner(no_userns) == (os.geteuid(), os.getegid())


def test_host_network_bundle_masks_what_run_masks_of_the_host_sysfs(tmp_path: Path) -> None:
    path = tmp_path / "host.yaml"
    path.write_text("extends: default\nnetwork: host\n")
    image = ImageConfig.from_obj({"os": "linux", "architecture": "amd64",
                                  "rootfs": {"type": "layers", "diff_ids": []},
                                  "config": {"Cmd": ["/bin/sh"]}}, "test")
    config = bundle_config(load_profile(str(path)), image, Path("/nonexistent"))
    sys_mount = next(m for m in config["mounts"] if m["destination"] == "/sys")
    assert sys_mount["source"] == "/sys" and "rbind" in sys_mount["options"]
    assert set(HOST_SYSFS_MASKS) <= set(config["linux"]["maskedPaths"])
    assert "/sys/fs/cgroup" in HOST_SYSFS_MASKS
