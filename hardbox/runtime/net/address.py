"""IP addresses in the text form ``str(ipaddress.ip_address(text))`` gives, without loading
``ipaddress`` for the common case.

Every ``hardbox run`` reads the host's resolv.conf (the container's /etc/resolv.conf is made
from it, whatever the network mode), and its nameservers are nearly always dotted IPv4
addresses. ``ipaddress`` costs several ms of start-up (bench/RESULTS.md, issue 14), so an
address in IPv4's one canonical form is recognised here by ``ipaddress``'s own rule
(Lib/ipaddress.py, ``_BaseV4._ip_int_from_string``: four decimal octets of 1-3 ASCII
digits, no leading zero, at most 255), which is also its ``str()``. Anything else (IPv6, or
text that is no address) goes to ``ipaddress`` itself, so what is accepted, refused and
returned is exactly what ``ipaddress`` does.
"""

from __future__ import annotations

_DIGITS = frozenset("0123456789")


def canonical_ipv4(text: str) -> bool:
    """True when ``text`` is an IPv4 address exactly as ``str(IPv4Address(text))`` writes it."""
    octets = text.split(".")
    if len(octets) != 4:
        return False
    for octet in octets:
        # 1-3 ASCII digits; "0" alone, else no leading zero; 255 at most.
        if not 0 < len(octet) <= 3 or not _DIGITS.issuperset(octet):
            return False
        if (octet[0] == "0" and octet != "0") or int(octet) > 255:
            return False
    return True


def ip_address_text(text: str) -> str:
    """``str(ipaddress.ip_address(text))``: ``ValueError`` when ``text`` is no IP address."""
    if canonical_ipv4(text):
        return text
    import ipaddress  # IPv6, or no address at all: ipaddress decides (and words the refusal)

    return str(ipaddress.ip_address(text))


def is_loopback(text: str) -> bool:
    """``ipaddress.ip_address(text).is_loopback`` (127.0.0.0/8, ::1)."""
    if canonical_ipv4(text):
        return text.startswith("127.")
    import ipaddress

    return ipaddress.ip_address(text).is_loopback
