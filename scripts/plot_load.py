#!/usr/bin/env python3
"""Draws throughput against connections, one line per endpoint, from scripts/load.sh's TSV.

    scripts/plot_load.py RESULTS.tsv OUT.svg

Plain SVG written by hand, so the load script needs nothing beyond Python's standard library.
"""
import math
import sys

COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]


def main(results_path, svg_path):
    rows = [line.split("\t") for line in open(results_path).read().splitlines()[1:] if line]
    series = {}
    for server, endpoint, conns, rps, *_ in rows:
        series.setdefault(f"{server} {endpoint}", []).append((int(conns), float(rps)))
    conn_values = sorted({c for points in series.values() for c, _ in points})
    top = max((r for points in series.values() for _, r in points), default=1.0)
    top = 10 ** math.ceil(math.log10(top)) if top > 0 else 1.0
    width, height, left, right, upper, lower = 760, 420, 80, 220, 30, 50
    plot_w, plot_h = width - left - right, height - upper - lower

    def x_of(conns):
        if len(conn_values) == 1:
            return left + plot_w / 2
        i = conn_values.index(conns)
        return left + plot_w * i / (len(conn_values) - 1)

    def y_of(rps):
        return upper + plot_h * (1 - rps / top)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="18" font-size="14">Throughput against connections (requests/s)</text>',
    ]
    for i in range(6):
        value = top * i / 5
        y = y_of(value)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{value:,.0f}</text>')
    for conns in conn_values:
        x = x_of(conns)
        parts.append(f'<line x1="{x:.1f}" y1="{upper}" x2="{x:.1f}" y2="{upper + plot_h}" stroke="#eee"/>')
        parts.append(f'<text x="{x:.1f}" y="{upper + plot_h + 18}" text-anchor="middle">{conns}</text>')
    parts.append(f'<text x="{left + plot_w / 2}" y="{height - 10}" text-anchor="middle">connections</text>')
    for n, (name, points) in enumerate(sorted(series.items())):
        color = COLORS[n % len(COLORS)]
        points.sort()
        path = " ".join(f"{x_of(c):.1f},{y_of(r):.1f}" for c, r in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        for c, r in points:
            parts.append(f'<circle cx="{x_of(c):.1f}" cy="{y_of(r):.1f}" r="3" fill="{color}"/>')
        ly = upper + 10 + n * 20
        parts.append(f'<line x1="{left + plot_w + 15}" y1="{ly}" x2="{left + plot_w + 35}" y2="{ly}" stroke="{color}" stroke-width="2"/>')
        parts.append(f'<text x="{left + plot_w + 40}" y="{ly + 4}">{name}</text>')
    parts.append("</svg>")
    open(svg_path, "w").write("\n".join(parts) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
