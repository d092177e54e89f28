"""The offline report: one HTML page over a metrics folder that opens in a browser with no network.

It reads what the stages left in the folder (``<metrics>/*.json``, curve CSVs and PNG pictures in its
sub-folders) and writes ``<out>/index.html`` plus ``<out>/curves/*.png`` (every curve drawn with PIL). Every link
is relative (pictures are linked where they lie, ``../<stage>/...``), nothing is fetched from elsewhere, so the
folder can be opened from a file browser or copied together with the metrics folder.

Files are sorted by kind from their names: ``evaluate.json`` + ``evaluate_cars.json`` (the comparison of the
reconstructions) first, then each stage's metrics file; plain JSON beside a metrics file (names ending in
``_info.json``, ``_objects.json`` or ``_cars.json``: counts, configuration, per-object rows) is shown folded.
"""

from __future__ import annotations

import html
import json
import math
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from ..io_utils import write_text
from ..viz import save_png
from .charts import line_chart, read_curve
from .variants import METRICS, SPLIT, VARIANTS

DETAIL_SUFFIXES = ("_info.json", "_objects.json", "_cars.json")
EVALUATE, EVALUATE_CARS, EVALUATE_PICTURES = "evaluate.json", "evaluate_cars.json", "evaluate"
CURVES = "curves"
STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; max-width: 1500px; }
table { border-collapse: collapse; margin: 0.5em 0 1em 0; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f0f0f0; }
td.missing { color: #999; font-style: italic; }
img { max-width: 100%; border: 1px solid #ddd; margin: 2px; }
img.chart { width: 440px; }
details { margin: 0.4em 0; }
summary { cursor: pointer; font-weight: bold; }
p.note { color: #555; font-size: 13px; max-width: 1100px; }
div.cards { display: flex; flex-wrap: wrap; gap: 0 2em; align-items: flex-start; }
"""


def fmt(value: Any) -> str:
    """A table cell: floats with 4 significant digits, everything else as text."""
    if isinstance(value, bool) or value is None:
        return html.escape(str(value))
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    if isinstance(value, (list, tuple)):
        return html.escape(", ".join(str(v) for v in value)) or "-"
    return html.escape(str(value))


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts -> ``{"a.b.c": leaf}`` (as ``dvc metrics show`` names them)."""
    if not isinstance(data, dict):
        return {prefix: data}
    out: dict[str, Any] = {}
    for key, value in data.items():
        out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def table(header: list[str], rows: list[list[Any]], missing_col: int | None = None) -> str:
    """An HTML table; ``rows`` hold raw values (formatted by ``fmt``)."""
    out = ["<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"]
    for row in rows:
        cells = []
        for value in row:
            css = ' class="missing"' if value == "missing" or value == "incomplete" else ""
            cells.append(f"<td{css}>{fmt(value)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    return "\n".join(out) + "</table>"


def key_value_table(data: dict) -> str:
    flat = flatten(data)
    return table(["figure", "value"], [[k, v] for k, v in sorted(flat.items())])


def rows_table(data: dict[str, dict]) -> str:
    """Per-object rows (``{object: {figure: value}}``) as one table, objects down, figures across."""
    flat = {name: flatten(row) for name, row in data.items()}
    columns = sorted({k for row in flat.values() for k in row})
    return table(["object", *columns], [[name, *[row.get(c, "") for c in columns]] for name, row in flat.items()])


def is_rows(data: Any) -> bool:
    return isinstance(data, dict) and bool(data) and all(isinstance(v, dict) for v in data.values())


def link(target: Path, page_dir: Path) -> str:
    """Relative URL of ``target`` seen from ``page_dir`` (forward slashes, escaped for an attribute)."""
    return html.escape(Path(os.path.relpath(target, page_dir)).as_posix(), quote=True)


def visible_files(metrics_dir: Path, pattern: str, skip: Path) -> list[Path]:
    """Files matching ``pattern`` under ``metrics_dir``, sorted, leaving out ``skip`` (the report's own folder)
    and hidden paths (the temporary siblings of atomic writes)."""
    return sorted(p for p in metrics_dir.rglob(pattern) if skip not in p.parents
                  and not any(part.startswith(".") for part in p.relative_to(metrics_dir).parts))


def read_json_file(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        return {"unreadable": f"{type(exc).__name__}: {exc}"}


# ----------------------------------------------------------------------------- sections


def evaluate_section(metrics_dir: Path, page_dir: Path) -> list[str]:
    """The reconstructions against ground truth: variant table, error split, comparison pictures."""
    path = metrics_dir / EVALUATE
    if not path.is_file():
        return ["<h2>Single-image reconstruction</h2><p class='note'>No metrics/evaluate.json yet "
                "(the evaluate stage has not run).</p>"]
    metrics = read_json_file(path)
    details = read_json_file(metrics_dir / EVALUATE_CARS) if (metrics_dir / EVALUATE_CARS).is_file() else {}
    status = details.get("status", {}) if isinstance(details, dict) else {}
    cars = details.get("cars", []) if isinstance(details, dict) else []
    out = [f"<h2>Single-image reconstruction: every variant against the ground truth ({len(cars)} held-out cars)</h2>",
           "<p class='note'>Means over the held-out cars; both meshes normalised, 10k surface samples. "
           "Chamfer-L2 lower is better, the others higher. A variant whose stage has not run is <i>missing</i>; "
           "one without a mesh for every car is <i>incomplete</i> (no mean).</p>"]
    names = list(dict.fromkeys([*VARIANTS, *status, *(k for k, v in metrics.items() if k in VARIANTS or
                                                      (isinstance(v, dict) and set(METRICS) <= set(v)))]))
    rows = []
    for name in names:
        state = status.get(name, {}).get("status", "scored" if name in metrics else "missing")
        values = metrics.get(name) if isinstance(metrics.get(name), dict) else None
        rows.append([name, *[values[m] if values and m in values else state for m in METRICS],
                     VARIANTS.get(name, "a variant of your own")])
    out.append(table(["variant", *METRICS, "what it is"], rows))
    derived = {k: v for k, v in metrics.items() if k not in names}
    if "chain_vs_oracle" in derived:
        out.append(f"<p><b>chain_vs_oracle</b> (F@0.05 of the chain / F@0.05 of oracle_rig): "
                   f"{fmt(derived['chain_vs_oracle'])}</p>")
    split = derived.get("error_split", {})
    if split:
        steps = [name for name, _, _ in SPLIT] + ["total"]
        out.append("<h3>Error split: what each step of the chain costs</h3><p class='note'>"
                   + "; ".join(f"{n}: {a} &rarr; {b}" for n, a, b in SPLIT)
                   + ". Positive = the step makes the mesh worse (F-score lost, Chamfer gained).</p>")
        out.append(table(["metric", *steps], [[m, *[s.get(step, "missing") for step in steps]]
                                              for m, s in split.items()]))
    gains = {k: v for k, v in derived.items() if k.startswith("chain_gain_over_")}
    if gains:
        out.append(key_value_table(gains))
    per_car = details.get("per_car", {}) if isinstance(details, dict) else {}
    if per_car:
        rows = [[car, variant, *[row.get(m, "") for m in METRICS]]
                for car, variants in per_car.items() for variant, row in variants.items()]
        out.append("<details><summary>per car</summary>" + table(["car", "variant", *METRICS], rows) + "</details>")
    pictures = sorted((metrics_dir / EVALUATE_PICTURES).glob("*.png"))
    if pictures:
        out.append("<h3>Per car: input | synthesised views | masks, then the turntable of every mesh</h3>")
        out += [f"<p>{html.escape(p.stem)}<br><img src='{link(p, page_dir)}' alt='{html.escape(p.stem)}'></p>"
                 for p in pictures]
    return out


def stage_tables(metrics_dir: Path) -> list[str]:
    """Every other stage's metrics file as a table, side by side; the plain JSON beside them folded below."""
    files = sorted(p for p in metrics_dir.glob("*.json") if p.name not in (EVALUATE, EVALUATE_CARS))
    cards, folded = [], []
    for path in files:
        data = read_json_file(path)
        body = (rows_table(data) if is_rows(data) else key_value_table(data) if isinstance(data, dict)
                else f"<pre>{html.escape(json.dumps(data))}</pre>")
        if path.name.endswith(DETAIL_SUFFIXES):
            folded.append(f"<details><summary>{html.escape(path.name)}</summary>{body}</details>")
        else:
            cards.append(f"<div><h3>{html.escape(path.name)}</h3>{body}</div>")
    out = ["<h2>Every stage's figures</h2>", "<div class='cards'>", *cards, "</div>"]
    if folded:
        out += ["<h3>Counts, configuration and per-object rows</h3>", *folded]
    return out


def curve_charts(metrics_dir: Path, out_dir: Path, page_dir: Path) -> list[str]:
    """One chart per (folder, column) of the curve CSVs under ``metrics_dir``, each file a series; the charts are
    written to ``out_dir/curves/`` and linked as ``page_dir/curves/``."""
    skip = page_dir
    folders: dict[Path, list[Path]] = defaultdict(list)
    for path in visible_files(metrics_dir, "*.csv", skip):
        folders[path.parent].append(path)
    out = ["<h2>Curves</h2>"] if folders else []
    for folder, paths in folders.items():
        curves = {p.stem: read_curve(p) for p in paths}
        xname = next((next(iter(c)) for c in curves.values() if c), None)
        columns = list(dict.fromkeys(name for c in curves.values() for name in list(c)[1:]))
        rel = folder.relative_to(metrics_dir).as_posix()
        out.append(f"<h3>{html.escape(rel)}</h3>")
        for column in columns:
            series = {stem: (c[xname], c[column]) for stem, c in curves.items() if xname in c and column in c}
            name = f"{rel.replace('/', '__')}__{column}".replace("@", "at") + ".png"
            save_png(line_chart(series, f"{rel}: {column}", xname), out_dir / CURVES / name)
            out.append(f"<img class='chart' src='{link(page_dir / CURVES / name, page_dir)}' "
                       f"alt='{html.escape(rel)} {html.escape(column)}'>")
    return out


def other_pictures(metrics_dir: Path, page_dir: Path) -> list[str]:
    """The stages' own PNG pictures, one folded block per folder."""
    skip = page_dir
    folders: dict[Path, list[Path]] = defaultdict(list)
    for path in visible_files(metrics_dir, "*.png", skip):
        if path.parent != metrics_dir / EVALUATE_PICTURES:
            folders[path.parent].append(path)
    out = ["<h2>The stages' pictures</h2>"] if folders else []
    for folder, paths in folders.items():
        images = "".join(f"<p>{html.escape(p.name)}<br><img src='{link(p, page_dir)}' alt='{html.escape(p.name)}'>"
                         f"</p>" for p in paths)
        out.append(f"<details><summary>{html.escape(folder.relative_to(metrics_dir).as_posix())} "
                   f"({len(paths)})</summary>{images}</details>")
    return out


def write_report(metrics_dir: str | os.PathLike, out_dir: str | os.PathLike,
                 page_dir: str | os.PathLike | None = None) -> Path:
    """Write ``out_dir/index.html`` (+ ``curves/``) over ``metrics_dir``; returns the page's path.

    ``page_dir``: where the page will finally live, for its relative links (default ``out_dir``; a stage that
    writes into a temporary folder and renames it passes the final folder).
    """
    metrics_dir, out_dir = Path(metrics_dir), Path(out_dir)
    page_dir = Path(page_dir) if page_dir is not None else out_dir
    page_dir, metrics_dir = page_dir.resolve(), metrics_dir.resolve()
    body = [
        "<h1>inverse-graphics: one image of a car in, a 3D mesh out</h1>",
        "<p class='note'>Written by the <code>report</code> stage of <code>dvc repro</code> from the files in "
        f"<code>{html.escape(metrics_dir.name)}/</code>; it needs no network. "
        "Compare runs with <code>dvc exp show</code> / <code>dvc metrics diff</code>.</p>",
        *evaluate_section(metrics_dir, page_dir),
        *stage_tables(metrics_dir),
        *curve_charts(metrics_dir, out_dir, page_dir),
        *other_pictures(metrics_dir, page_dir),
    ]
    page = ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>inverse-graphics report</title>"
            f"<style>{STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
    index = out_dir / "index.html"
    write_text(index, page)
    return index
