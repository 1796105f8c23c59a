"""The one image-preparation step: created_by scrubbed and history aligned to layers once,
for the scan (its layer table, history and check context) and the SBOM alike."""

from __future__ import annotations

import json
from pathlib import Path

from helpers.layerdirs import DirImage, DirLayer, write

from hardbox.image.formats.config import ImageConfig, aligned_layers
from hardbox.scan.catalog_result import catalog_image
from hardbox.scan.prepare import prepare_image
from hardbox.scan.sbom.build import write_sbom
from hardbox.scan.scanner import ScanOptions, check_context, scan

TOKEN = "ghp_" + "Qw8Er7Ty6Ui5Op4As3Df2Gh1Jk0Lz9Xc8Vb7"
BUILD_STEP = f"|1 GITHUB_TOKEN={TOKEN} /bin/sh -c apk add musl"


def _image(tmp_path: Path, history: list[dict[str, object]], layer_count: int = 2) -> DirImage:
    dirs = [tmp_path / f"l{i}" for i in range(layer_count)]
    for d in dirs:
        d.mkdir()
    write(dirs[0], "etc/os-release", "ID=alpine\nVERSION_ID=3.19.1\n")
    write(dirs[-1], "lib/apk/db/installed", "P:musl\nV:1.2.4-r2\nA:x86_64\no:musl\n\n")
    write(dirs[-1], "srv/big", b"x" * 4096)
    if layer_count > 1:
        write(dirs[0], "srv/big", b"y" * 1000)
    diff_ids = [f"sha256:{i:064x}" for i in range(layer_count)]
    config = ImageConfig.from_obj(
        {"os": "linux", "architecture": "amd64", "created": "2024-05-01T00:00:00Z",
         "rootfs": {"type": "layers", "diff_ids": diff_ids}, "history": history}, "test")
    made = [h for h in history if not h.get("empty_layer")]
    layers = tuple(
        DirLayer(d, diff_ids[i], i,
                 str(made[i]["created_by"]) if len(made) == layer_count else "",
                 diff_ids[i], 100 * (i + 1))
        for i, d in enumerate(dirs)
    )
    return DirImage(layers, "sha256:" + "c" * 64, ("example/app:1",), "", config)


HISTORY: list[dict[str, object]] = [
    {"created_by": "/bin/sh -c #(nop) ADD file:abc in /", "created": "2024-01-01T00:00:00Z"},
    {"created_by": "/bin/sh -c #(nop) ENV A=1", "empty_layer": True,
     "created": "2024-01-02T00:00:00Z"},
    {"created_by": BUILD_STEP, "created": "2024-01-03T00:00:00Z"},
]


def test_alignment_pairs_the_nth_layer_making_entry_with_the_nth_layer() -> None:
    config = ImageConfig.from_obj(
        {"os": "linux", "architecture": "amd64",
         "rootfs": {"type": "layers", "diff_ids": []}, "history": HISTORY}, "t")
    assert aligned_layers(config.history, 2) == [0, None, 1]
    # History that disagrees with the layers pairs nothing rather than the wrong layer.
    assert aligned_layers(config.history, 3) == [None, None, None]


def test_prepare_scrubs_once_and_aligns(tmp_path: Path) -> None:
    image = prepare_image(_image(tmp_path, HISTORY))
    top = image.layers[1]
    assert TOKEN not in top.created_by and top.created_by.endswith("/bin/sh -c apk add musl")
    assert [layer.created for layer in image.layers] == [
        "2024-01-01T00:00:00Z", "2024-01-03T00:00:00Z"]
    steps = image.history
    assert [s.layer.index if s.layer else None for s in steps] == [0, None, 1]
    # The raw text stays for the config checks (they look for secrets in it); the shown
    # text is the scrubbed one, the same the layer carries.
    assert steps[2].created_by == BUILD_STEP and steps[2].shown == top.created_by
    assert steps[2].layer == top.ref
    context = check_context("example/app:1", image)
    assert context.layers == image.refs and context.steps[2].layer == top.ref
    assert context.steps[2].created_by == BUILD_STEP


def test_an_image_without_history_keeps_hardboxs_own_text(tmp_path: Path) -> None:
    opened = _image(tmp_path, [], layer_count=1)
    opened = DirImage((DirLayer(opened.layers[0].path, opened.layers[0].diff_id, 0,
                                f"dir:{opened.layers[0].path}"),), opened.id, (), "", opened.config)
    image = prepare_image(opened)
    assert image.layers[0].created_by == f"dir:{opened.layers[0].path}"
    assert image.layers[0].created is None and image.history == ()


def test_scan_and_sbom_show_the_same_prepared_layers(tmp_path: Path) -> None:
    """The scan's layer table, its history and the SBOM's package layer all carry the one
    scrubbed text; the table's shadowed bytes are the walk's count."""
    opened = _image(tmp_path, HISTORY)
    result = scan(opened, None, ScanOptions(secrets=False))
    top = result.image.layers[1]
    assert TOKEN not in json.dumps(result.image.to_dict())
    assert top.created == "2024-01-03T00:00:00Z"
    assert result.image.layers[0].shadowed_bytes == 1000 and top.shadowed_bytes == 0
    assert [h.layer_index for h in result.image.history] == [0, None, 1]
    assert result.image.history[2].created_by == top.created_by

    prepared = prepare_image(opened)
    sbom = json.loads(write_sbom(prepared, catalog_image(prepared), "cyclonedx-json"))
    (musl,) = [c for c in sbom["components"] if c["name"] == "musl"]
    props = dict((p["name"], p["value"]) for p in musl["properties"])
    assert props["hardbox:layer:created_by"] == top.created_by
    assert TOKEN not in json.dumps(sbom)
