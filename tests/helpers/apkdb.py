"""An apk installed database for the apk tests (the scan's cataloger, the minimizer's rewrite).
No Alpine system or apk-tools is at hand here, so it is written in the published format
(wiki.alpinelinux.org/wiki/Apk_spec, "Installed Database V2"), with field values copied from
a real Alpine 3.19 record layout: two records, with the ``a:`` (owner and mode) and ``Z:``
(checksum) lines that apk writes after the ``R:`` of the file they describe."""

from __future__ import annotations

INSTALLED = """\
C:Q1ejDbm3jVW0F4hIeSd3h6MN6jpuA=
P:musl
V:1.2.4_git20230717-r4
A:x86_64
S:407278
I:663552
T:the musl c library (libc) implementation
U:https://musl.libc.org/
L:MIT
o:musl
m:Natanael Copa <ncopa@alpinelinux.org>
t:1700590180
c:ca7f2ab5e88794e4e654b40776f8a92256f50639
p:so:libc.musl-x86_64.so.1=1
F:lib
R:ld-musl-x86_64.so.1
a:0:0:755
Z:Q1tY7VHY/xKYtH3mq1CgNmrnGkOjs=
R:libc.musl-x86_64.so.1
a:0:0:777

C:Q1ZCCa9Cs9wfwXaC7Tt8RMu1WlWPI=
P:libcrypto3
V:3.1.4-r5
A:x86_64
S:1789563
I:4374528
T:Crypto library from openssl
U:https://www.openssl.org/
L:Apache-2.0
o:openssl
m:Ariadne Conills <ariadne@dereferenced.org>
t:1706284911
F:usr
F:usr/lib
R:libcrypto.so.3
F:usr/lib/engines-3
R:afalg.so
"""
