"""``hardbox image fsck``: real damage to a real store is found, named, and set aside.

The store holds the busybox image twice, from umoci's OCI layout (gzip layer blob) and from
skopeo's docker archive (plain layer blob): one config, one unpacked layer, two manifests.
Each test damages it the way a crash, a full disk or a stray editor does, and checks that
the other commands name fsck in their hint, that fsck finds the damage (exit 1), that
--repair moves it into lost+found/ (nothing deleted) and leaves a store every command reads.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hardbox.image.store.fsck import check_store
from hardbox.image.store.importer import import_path
from hardbox.image.store.store import Store

Cli = Callable[..., Any]


@pytest.fixture
def store(hardbox_root: Path, busybox_layout: Any, busybox_archive: Path) -> Store:
    store = Store.open()
    import_path(store, busybox_layout.layout)
    import_path(store, busybox_archive)
    return store


def _image_of(store: Store, tag: str) -> tuple[Path, dict[str, Any]]:
    manifest = store.tags()[tag]
    path = store.record_path(manifest)
    return path, json.loads(path.read_bytes())


def _fsck_json(cli: Cli, *extra: str) -> tuple[int, dict[str, Any]]:
    proc = cli("image", "fsck", "--json", *extra)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def _quarantined(root: Path, report: dict[str, Any]) -> Path:
    assert report["quarantine"], report
    return root / report["quarantine"]


def test_a_sound_store_is_clean(store: Store, cli: Cli) -> None:
    code, report = _fsck_json(cli)
    assert code == 0
    assert report["clean"] is True and report["problems"] == []
    assert report["checked"] == {"blobs": 5, "layers": 1, "images": 2, "tags": 2}  # 2 manifests, 1 config, 2 layer blobs
    assert check_store(store.root).clean


def test_a_truncated_record_is_named_then_set_aside(store: Store, cli: Cli) -> None:
    path, _ = _image_of(store, "docker.io/library/bbtest:latest")
    original = path.read_bytes()
    path.write_bytes(original[: len(original) // 2])

    ls = cli("image", "ls")
    assert ls.returncode == 2
    assert str(path) in ls.stderr and "hardbox image fsck" in ls.stderr
    assert "Traceback" not in ls.stderr

    code, report = _fsck_json(cli)
    assert code == 1
    assert [(p["kind"], p["path"]) for p in report["problems"]] == [
        ("image-record", f"images/{path.name}"),
        ("tag", "tags.json"),
    ]
    assert path.read_bytes() == original[: len(original) // 2]  # without --repair: untouched

    code, report = _fsck_json(cli, "--repair")
    assert code == 1 and report["repaired"] is True
    kept = _quarantined(store.root, report) / "images" / path.name
    assert kept.read_bytes() == original[: len(original) // 2]
    assert not path.exists()
    assert "docker.io/library/bbtest:latest" not in store.tags()

    assert _fsck_json(cli)[0] == 0
    ls = cli("image", "ls", "--json", check=True)
    assert [im["tags"] for im in json.loads(ls.stdout)] == [["docker.io/library/layout:latest"]]


def test_a_corrupt_blob_drops_only_the_images_that_need_it(store: Store, cli: Cli) -> None:
    _, record = _image_of(store, "docker.io/library/bbtest:latest")
    blob = store.blob_path(record["layers"][0]["digest"])  # skopeo's plain tar: bbtest only
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))

    code, report = _fsck_json(cli)
    assert code == 1
    kinds = {p["kind"]: p for p in report["problems"]}
    assert kinds["blob"]["path"] == f"blobs/sha256/{blob.name}"
    assert "is missing or damaged" in kinds["image-record"]["detail"]

    code, report = _fsck_json(cli, "--repair")
    assert code == 1
    assert (_quarantined(store.root, report) / "blobs" / "sha256" / blob.name).is_file()
    assert _fsck_json(cli)[0] == 0
    inspect = cli("image", "inspect", "--json", "layout", check=True)
    assert json.loads(inspect.stdout)["id"] == record["config"]
    assert cli("image", "inspect", "bbtest").returncode == 2


def test_a_deleted_layer_directory_drops_every_image_on_it(store: Store, cli: Cli) -> None:
    _, record = _image_of(store, "docker.io/library/layout:latest")
    layer = store.layer_path(record["layers"][0]["diff_id"])
    import shutil

    shutil.rmtree(layer)
    code, report = _fsck_json(cli, "--repair")
    assert code == 1
    assert {p["kind"] for p in report["problems"]} == {"layer-dir", "image-record", "tag"}
    quarantine = _quarantined(store.root, report)
    assert len(list((quarantine / "images").iterdir())) == 2
    assert (quarantine / "layers" / f"{layer.name}.json").is_file()
    assert store.tags() == {} and store.images() == []
    assert _fsck_json(cli)[0] == 0
    # What no sound image uses is now prune's to collect.
    assert cli("image", "prune", check=True).returncode == 0
    assert list(store.blobs.iterdir()) == []


@pytest.mark.parametrize("garbage", [b"\x00\xffnot json", b"[1, 2, 3]", b'{"a": 1}'])
def test_garbage_in_tags_json(store: Store, cli: Cli, garbage: bytes) -> None:
    store.tags_file.write_bytes(garbage)
    for command in (("image", "ls"), ("image", "rm", "layout"), ("image", "prune")):
        proc = cli(*command)
        assert proc.returncode == 2, (command, proc.stderr)
        assert "tags.json" in proc.stderr and "hardbox image fsck" in proc.stderr
        assert "Traceback" not in proc.stderr

    human = cli("image", "fsck")
    assert human.returncode == 1 and "tags.json" in human.stdout
    code, report = _fsck_json(cli, "--repair")
    assert code == 1
    assert (_quarantined(store.root, report) / "tags.json").read_bytes() == garbage
    assert _fsck_json(cli)[0] == 0
    # The images are sound, only their names are gone: both are listed, untagged.
    assert len(store.images()) == 2
    assert cli("image", "prune", check=True).returncode == 0


def test_an_orphan_tag_is_dropped_and_the_rest_kept(store: Store, cli: Cli) -> None:
    tags = store.tags()
    tags["docker.io/library/ghost:1"] = "sha256:" + "0" * 64
    store.write_tags(tags)
    code, report = _fsck_json(cli, "--repair")
    assert code == 1
    assert [p["detail"] for p in report["problems"]] == [
        f"tag 'docker.io/library/ghost:1' names sha256:{'0' * 64}, which is not a sound image"]
    assert sorted(store.tags()) == ["docker.io/library/bbtest:latest",
                                    "docker.io/library/layout:latest"]
    assert json.loads((_quarantined(store.root, report) / "tags.json").read_bytes())[
        "docker.io/library/ghost:1"]


def test_a_damaged_layer_record(store: Store, cli: Cli) -> None:
    _, record = _image_of(store, "docker.io/library/layout:latest")
    meta = store.layer_meta_path(record["layers"][0]["diff_id"])
    meta.write_text('{"diff_id": "sha256:' + "1" * 64 + '"}')
    report = check_store(store.root)
    assert not report.clean
    assert report.problems[0].kind == "layer-record" and report.problems[0].action == ""
    repaired = check_store(store.root, repair=True)
    assert repaired.quarantine is not None
    assert (store.root / repaired.quarantine / "layers" / meta.name.removesuffix(".json")).is_dir()
    assert check_store(store.root).clean


def test_usage(cli: Cli, hardbox_root: Path) -> None:
    assert cli("image", "fsck", "--bogus").returncode == 2
    help_text = cli("image", "fsck", "--help", check=True).stdout
    assert "--repair" in help_text and "lost+found" in help_text
    missing = cli("image", "fsck")
    assert missing.returncode == 2 and "no image store" in missing.stderr
