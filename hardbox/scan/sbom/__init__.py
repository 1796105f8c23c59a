"""The SBOM of a scanned image: ``build`` assembles it from the catalog, ``facts`` holds
what every writer shares, and one module per output format (``cyclonedx``,
``cyclonedx_json``, ``spdx``) plus ``vulns`` (vulnerabilities in CycloneDX) writes it."""
