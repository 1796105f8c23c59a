"""``--network private``: an uplink, published ports and the generated /etc files.

One module per job: ``options`` parses ``-p``/``--add-host``/``--dns`` into checked values,
``host`` reads what the host's network looks like (default route, resolvers), ``plan``
turns options and image into what a run does, ``etcfiles`` writes /etc/hosts,
/etc/hostname and /etc/resolv.conf, and ``pasta`` starts and ends the uplink. The plain
namespace pieces (``lo`` up, the mode's description) are in ``runtime/network.py``.
"""
