"""The image store under the hardbox root: ``store.Store`` (images, tags, the layer
directories), the records it keeps (``images``), importing into it (``importer``,
``transaction``), locking, pruning, name resolution and the shifted (rootless) store."""
