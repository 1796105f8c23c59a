"""The profile side of the runtime, as runc's ``configs/`` and ``specconv/`` are: the
hardening profile's model, loading and cache, the run options that adjust it, and what is
derived from it (seccomp policy, OCI bundle, SELinux CIL, ``--explain``). The kernel-side
modules that apply a profile stay in ``hardbox/runtime/``."""
