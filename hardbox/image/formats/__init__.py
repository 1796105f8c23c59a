"""Image formats on disk: what a docker archive or an OCI layout holds, read and written.

``reader`` is the seam (``ImageReader``, ``LayerSource``); ``docker_archive`` and
``oci_layout`` read the two formats, ``export`` writes them; ``manifest``, ``config`` and
``platform`` are the validated models of their JSON documents. ``open_reader`` below picks
the reader for a path.
"""
