"""Inline SVG charts for the HTML report, drawn here so the report needs no script library
and prints as it shows: findings by severity, and size by layer.

Every label is escaped (markupsafe), since layer commands come from the image. Colours come
from CSS classes (``sev-critical`` …) defined in templates/report.css, so the charts follow the
page's light and print styles.
"""

from __future__ import annotations

from markupsafe import Markup, escape

from hardbox.findings import Severity
from hardbox.report.common import step_text

_BAR_H = 22
_GAP = 8


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"


def severity_chart(counts: dict[str, int]) -> Markup:
    """Horizontal bars, one per severity, worst first; the count at the end of each bar."""
    width, label_w, value_w = 300, 64, 34
    peak = max(counts.values(), default=0) or 1
    rows = []
    for i, sev in enumerate(Severity):
        n = counts.get(sev.value, 0)
        y = i * (_BAR_H + _GAP)
        bar = round((width - label_w - value_w) * n / peak) if n else 0
        rows.append(
            f'<text x="0" y="{y + 15}" class="chart-label">{escape(sev.value)}</text>'
            f'<rect x="{label_w}" y="{y}" width="{max(bar, 2) if n else 0}" height="{_BAR_H}" '
            f'rx="3" class="bar sev-{sev.value}"><title>{n} {escape(sev.value)}</title></rect>'
            f'<text x="{label_w + bar + 6}" y="{y + 15}" class="chart-value">{n}</text>'
        )
    height = len(Severity) * (_BAR_H + _GAP)
    return Markup(
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" aria-label="Findings by severity">{"".join(rows)}</svg>'
    )


def layer_size_chart(layers: list[tuple[int, int, str]]) -> Markup:
    """One bar per layer (index, size in bytes, created_by), oldest at the top."""
    width, label_w, value_w = 380, 30, 64
    peak = max((size for _, size, _ in layers), default=0) or 1
    rows = []
    for i, (index, size, created_by) in enumerate(layers):
        y = i * (_BAR_H + _GAP)
        bar = round((width - label_w - value_w) * size / peak)
        tip = escape(f"layer {index}: {human_bytes(size)} — {step_text(created_by, 200)}")
        rows.append(
            f'<text x="0" y="{y + 15}" class="chart-label">#{index}</text>'
            f'<rect x="{label_w}" y="{y}" width="{max(bar, 2)}" height="{_BAR_H}" rx="3" '
            f'class="bar layer-bar"><title>{tip}</title></rect>'
            f'<text x="{label_w + max(bar, 2) + 6}" y="{y + 15}" class="chart-value">'
            f'{escape(human_bytes(size))}</text>'
        )
    height = max(len(layers), 1) * (_BAR_H + _GAP)
    return Markup(
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" aria-label="Size by layer">{"".join(rows)}</svg>'
    )
