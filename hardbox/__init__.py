"""hardbox: run containers locked down, minimize images, scan them, gate them in CI."""

__version__ = "0.1.0"
