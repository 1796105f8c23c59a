"""Images: references, OCI/Docker models, archive and layout readers/writers, the store."""
