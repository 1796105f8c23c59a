"""The CI gate: judge a scanned image against a policy, with reviewed exceptions and VEX,
and say exactly which rules failed and which findings are behind each failure.

``policy`` (YAML + schema) → ``rules`` (small rule objects) → ``evaluate`` (VEX, exceptions)
→ ``GateResult``, rendered by ``junit``, ``sarif`` and ``markdown``. ``hardbox.cli.gate`` is
the command. The gate stands on ``scan``, ``dockerfile`` and ``runtime``; none imports it.
"""
