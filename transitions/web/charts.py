"""Server-rendered SVG charts (no JavaScript): a line chart of rates and a bar chart, each with a text summary."""

from markupsafe import Markup, escape

WIDTH, HEIGHT = 720, 280
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 36, 56
# Colour-blind-safe pair (Okabe-Ito blue and vermillion) with different dash patterns, so colour is not the only cue.
SERIES_STYLES = (("#0072B2", ""), ("#D55E00", "6 4"), ("#009E73", "2 3"))
AXIS, GRID, TEXT = "#4a4a4a", "#d9d9d9", "#1f1f1f"


def _svg(title, body, description):
    return Markup(
        '<svg class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="%s-t %s-d" '
        'xmlns="http://www.w3.org/2000/svg">'
        '<title id="%s-t">%s</title><desc id="%s-d">%s</desc>%s</svg>'
        % (
            WIDTH,
            HEIGHT,
            _slug(title),
            _slug(title),
            _slug(title),
            escape(title),
            _slug(title),
            escape(description),
            body,
        )
    )


def _slug(title):
    return "chart-" + "".join(ch if ch.isalnum() else "-" for ch in title.lower())[:40]


def _x_positions(count):
    inner = WIDTH - LEFT - RIGHT
    if count == 1:
        return [LEFT + inner / 2]
    step = inner / count
    return [LEFT + step * (index + 0.5) for index in range(count)]


def _y(value, maximum):
    inner = HEIGHT - TOP - BOTTOM
    return TOP + inner * (1 - (value / maximum if maximum else 0))


def _axes(labels, maximum, ticks, fmt):
    parts = []
    for tick in ticks:
        y = _y(tick, maximum)
        parts.append(
            '<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="%s" stroke-width="1"/>'
            % (LEFT, WIDTH - RIGHT, y, y, GRID)
        )
        parts.append(
            '<text x="%d" y="%.1f" font-size="12" text-anchor="end" fill="%s">%s</text>'
            % (LEFT - 6, y + 4, TEXT, escape(fmt(tick)))
        )
    parts.append(
        '<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s"/>'
        % (LEFT, WIDTH - RIGHT, HEIGHT - BOTTOM, HEIGHT - BOTTOM, AXIS)
    )
    xs = _x_positions(len(labels))
    # Thin the labels so they never overlap on a laptop-width chart.
    every = max(1, -(-len(labels) // 12))
    for index, (x, label) in enumerate(zip(xs, labels, strict=False)):
        if index % every == 0:
            parts.append(
                '<text x="%.1f" y="%d" font-size="12" text-anchor="middle" fill="%s">%s</text>'
                % (x, HEIGHT - BOTTOM + 18, TEXT, escape(label))
            )
    return parts, xs


def line_chart(labels, series, title, percent=False):
    """Lines over labelled periods; None values leave a gap (the period has no closed measurement yet)."""
    maximum = 1.0 if percent else max([v for _, values in series for v in values if v is not None] or [1]) * 1.1
    fmt = (lambda v: "%d%%" % round(v * 100)) if percent else (lambda v: "%g" % round(v, 1))
    ticks = [maximum * i / 4 for i in range(5)]
    parts, xs = _axes(labels, maximum, ticks, fmt)
    summary = []
    for index, (name, values) in enumerate(series):
        colour, dash = SERIES_STYLES[index % len(SERIES_STYLES)]
        segment = []
        for x, value in zip(xs, values, strict=False):
            if value is None:
                if len(segment) > 1:
                    parts.append(_polyline(segment, colour, dash))
                segment = []
                continue
            segment.append((x, _y(value, maximum)))
            parts.append(
                '<circle cx="%.1f" cy="%.1f" r="4" fill="%s"><title>%s: %s</title></circle>'
                % (x, _y(value, maximum), colour, escape(name), escape(fmt(value)))
            )
        if len(segment) > 1:
            parts.append(_polyline(segment, colour, dash))
        known = [(label, v) for label, v in zip(labels, values, strict=False) if v is not None]
        summary.append("%s: %s" % (name, ", ".join("%s %s" % (label, fmt(v)) for label, v in known) or "no data yet"))
        # Legend above the plot.
        lx = LEFT + index * 190
        parts.append(
            '<line x1="%d" x2="%d" y1="16" y2="16" stroke="%s" stroke-width="3" stroke-dasharray="%s"/>'
            % (lx, lx + 28, colour, dash)
        )
        parts.append('<text x="%d" y="20" font-size="13" fill="%s">%s</text>' % (lx + 34, TEXT, escape(name)))
    if not any(v is not None for _, values in series for v in values):
        parts.append(_empty_note())
    return _svg(title, "".join(parts), "; ".join(summary))


def _polyline(points, colour, dash):
    return '<polyline points="%s" fill="none" stroke="%s" stroke-width="2.5" stroke-dasharray="%s"/>' % (
        " ".join("%.1f,%.1f" % p for p in points),
        colour,
        dash,
    )


def _empty_note():
    return (
        '<text x="%d" y="%d" font-size="14" text-anchor="middle" fill="%s">No closed measurements in this range '
        "yet</text>" % (WIDTH / 2, HEIGHT / 2, TEXT)
    )


def bar_chart(labels, values, title, unit="", target=None, target_label=None):
    """One bar per period; None leaves the slot empty; an optional dashed target line."""
    known = [v for v in values if v is not None]
    maximum = max(known + ([target] if target is not None else []) + [1]) * 1.15
    fmt = lambda v: "%g" % round(v, 1)  # noqa: E731
    ticks = [maximum * i / 4 for i in range(5)]
    parts, xs = _axes(labels, maximum, ticks, fmt)
    width = max(6.0, min(48.0, (WIDTH - LEFT - RIGHT) / max(len(labels), 1) * 0.6))
    for x, label, value in zip(xs, labels, values, strict=False):
        if value is None:
            continue
        y = _y(value, maximum)
        parts.append(
            '<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s: %s %s</title></rect>'
            % (
                x - width / 2,
                y,
                width,
                HEIGHT - BOTTOM - y,
                SERIES_STYLES[0][0],
                escape(label),
                escape(fmt(value)),
                escape(unit),
            )
        )
        parts.append(
            '<text x="%.1f" y="%.1f" font-size="12" text-anchor="middle" fill="%s">%s</text>'
            % (x, y - 5, TEXT, escape(fmt(value)))
        )
    if target is not None:
        y = _y(target, maximum)
        parts.append(
            '<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="%s" stroke-width="2" stroke-dasharray="6 4"/>'
            % (LEFT, WIDTH - RIGHT, y, y, SERIES_STYLES[1][0])
        )
        parts.append(
            '<text x="%d" y="%.1f" font-size="12" text-anchor="end" fill="%s">%s</text>'
            % (WIDTH - RIGHT, y - 5, TEXT, escape(target_label or "target"))
        )
    if not known:
        parts.append(_empty_note())
    summary = ", ".join(
        "%s %s %s" % (label, fmt(v), unit) for label, v in zip(labels, values, strict=False) if v is not None
    )
    return _svg(title, "".join(parts), summary or "no data yet")
