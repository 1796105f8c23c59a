"""Scanning: one walk of an image's files (walk.py), catalogers that find packages in it
(catalog/), the SBOM written from them (sbom.py), vulnerability matching (vulndb/) and
checks for misconfigurations and secrets (checks/)."""
