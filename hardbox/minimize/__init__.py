"""Image minimization: decide what an image needs (static ELF closure, run-time rules, traced
probes), write a single-layer image with only that, and prove it still passes the probes."""
