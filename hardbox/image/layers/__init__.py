"""Layer tars, unpacked safely: decompression, the bounded tar stream, the confined apply of
each entry (whiteouts, links, devices recorded as data) and ``unpack.apply_layer``, which
ties them together into one unpacked layer directory (docs/architecture.md, "Unpacked layer
format")."""
