"""The container runtime: profiles, and one module per kernel subsystem a run uses.

``container.py`` holds the order of the hardening steps; ``syscalls.py`` is the thin ctypes
layer beneath namespaces, idmap, mounts, capabilities, network, process and init;
``state.py`` and ``lifecycle.py`` keep track of containers; ``explain.py`` describes a run
without starting it. Nothing here is imported by ``hardbox.image`` (imports point down).
"""
