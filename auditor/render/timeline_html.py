"""The maturity timeline as one self-contained HTML page: a line chart drawn as inline SVG of each
section's share of yes answers over time, labelled in text (every line is named at its end and
drawn with its own dash pattern, so nothing is told by colour alone), and the table of points.

The page loads nothing and runs nothing: styles are inline and its content security policy
allows no script. Repository text (commit subjects, the path) is escaped by Jinja2's
autoescaping; the template is read from the installed package.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import jinja2

from mlops_auditor import __version__
from mlops_auditor.render.html import clean
from mlops_auditor.timeline import Point

WIDTH, HEIGHT = 720, 320  # the chart's user units; it scales with the page
LEFT, RIGHT, TOP, BOTTOM = 48, 190, 16, 48
LABEL_GAP = 13  # the least vertical distance between two lines' end labels
DASHES = ("", "8 4", "2 3", "12 4 2 4", "4 4", "1 5", "10 2")
MAX_DATE_LABELS = 8


def render(points: Sequence[Point], repository: str, every: str, since: str | None,
           now: datetime | None = None) -> str:
    """The page for POINTS (oldest first) of REPOSITORY, spaced EVERY, from SINCE."""
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True)
    env.filters["clean"] = clean
    template_text = (importlib.resources.files("mlops_auditor.templates")
                     .joinpath("timeline.html.j2").read_text(encoding="utf-8"))
    sections = [(s.id, s.title) for s in points[0].sections] if points else []
    return env.from_string(template_text).render(
        points=points,
        repository=repository,
        every=every,
        since=since,
        sections=sections,
        chart=chart(points) if points else None,
        version=__version__,
        date=(now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC"),
    )


def _x(i: int, n: int) -> float:
    inner = WIDTH - LEFT - RIGHT
    return round(LEFT + (inner * i / (n - 1) if n > 1 else inner / 2), 2)


def _y(share: float) -> float:
    return round(TOP + (HEIGHT - TOP - BOTTOM) * (1 - share), 2)


def chart(points: Sequence[Point]) -> dict[str, Any]:
    """The chart's geometry: per section its polylines (split where no statement applied), its
    markers with their values, and its end label; the axes' ticks and date labels."""
    n = len(points)
    lines = []
    for k, (sid, title) in enumerate((s.id, s.title) for s in points[0].sections):
        runs: list[list[str]] = [[]]
        markers = []
        last: float | None = None
        for i, p in enumerate(points):
            s = next((s for s in p.sections if s.id == sid), None)
            if s is None or s.score is None:
                if runs[-1]:
                    runs.append([])
                continue
            x, y = _x(i, n), _y(s.score)
            runs[-1].append(f"{x},{y}")
            markers.append({"x": x, "y": y,
                            "title": f"{sid}. {title}, {p.date}: {s.score:.0%} yes"})
            last = s.score
        lines.append({"id": sid, "title": title, "dash": DASHES[k % len(DASHES)],
                      "runs": [" ".join(r) for r in runs if r], "markers": markers,
                      "label": f"{sid}. {title} {'—' if last is None else f'{last:.0%}'}",
                      "label_y": _y(last if last is not None else 0.0)})
    _spread([line for line in lines], HEIGHT - BOTTOM)
    step = max(1, -(-n // MAX_DATE_LABELS))
    dates = [{"x": _x(i, n), "text": p.date} for i, p in enumerate(points)
             if i % step == 0 or i == n - 1]
    ticks = [{"y": _y(v / 100), "text": f"{v}%"} for v in (0, 25, 50, 75, 100)]
    return {"width": WIDTH, "height": HEIGHT, "left": LEFT, "right": WIDTH - RIGHT,
            "top": TOP, "bottom": HEIGHT - BOTTOM, "label_x": WIDTH - RIGHT + 8,
            "lines": lines, "dates": dates, "ticks": ticks}


def _spread(lines: list[dict[str, Any]], floor: float) -> None:
    """Move the end labels apart (top to bottom) so that none overlaps another."""
    previous = -LABEL_GAP
    for line in sorted(lines, key=lambda item: (item["label_y"], item["id"])):
        line["label_y"] = round(max(line["label_y"], previous + LABEL_GAP), 2)
        previous = line["label_y"]
    overflow = previous - floor
    if overflow > 0:
        for line in lines:
            line["label_y"] = round(line["label_y"] - overflow, 2)
