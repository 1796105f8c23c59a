"""Image formats on disk: what a docker archive or an OCI layout holds, read and written.

``reader`` is the seam (``ImageReader``, ``LayerSource``); ``docker_archive`` and
``oci_layout`` read the two formats, ``export`` writes them; ``manifest``, ``config`` and
``platform`` are the validated models of their JSON documents. ``open_reader`` below picks
the reader for a path.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from hardbox.errors import InvalidImage

if TYPE_CHECKING:
    from hardbox.image.formats.reader import ImageReader


@contextmanager
def open_reader(path: Path) -> Iterator[ImageReader]:
    """Open ``path`` as whichever format it is; refuse what is none of them."""
    # Imported here, for start-up speed: `hardbox run` imports this package (the manifest
    # model) but never reads an archive, and the readers bring tarfile with them.
    from hardbox.image.formats.docker_archive import DockerArchive
    from hardbox.image.formats.oci_layout import OciLayout
    from hardbox.image.formats.reader import TarMembers

    if not path.exists():
        raise InvalidImage(f"{path}: no such file or directory")
    reader: ImageReader
    if path.is_dir():
        reader = OciLayout.open_dir(path)
    else:
        members = TarMembers(path)
        if members.has("manifest.json"):
            reader = DockerArchive(path, members)
        elif members.has("index.json") or members.has("oci-layout"):
            reader = OciLayout.open_tar(path, members)
        else:
            members.close()
            raise InvalidImage(
                f"{path}: a tar archive, but neither a docker archive (no manifest.json) "
                "nor an OCI layout (no index.json)"
            )
    try:
        yield reader
    finally:
        reader.close()
