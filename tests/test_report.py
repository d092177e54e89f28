"""The offline report: relative links only, every linked file exists, missing variants shown as missing, curves
drawn as PNG; the report stage's deps name every file another stage writes under metrics/."""

import math
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath

import numpy as np
import pytest
from PIL import Image

from inverse_graphics.evaluate.charts import line_chart, nice_step, read_curve, use_log_scale
from inverse_graphics.evaluate.report import write_report
from inverse_graphics.evaluate.variants import summarize
from inverse_graphics.io_utils import atomic_dir, write_json, write_text

ROOT = Path(__file__).resolve().parents[1]


class Links(HTMLParser):
    """Every URL an element of the page points at (src, href, and anything in inline CSS)."""

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href", "srcset", "data", "poster", "action") and value is not None:
                self.urls.append(value)


def fake_metrics(folder: Path) -> None:
    row = lambda f: {"chamfer_l2": 0.001, "fscore@0.01": 0.1, "fscore@0.02": 0.5, "fscore@0.05": f,  # noqa: E731
                     "normal_consistency": 0.9, "iou3d": 0.8}
    cars = ["car_000", "car_001"]
    scores = {"oracle_tutorial": {c: row(0.95) for c in cars}, "oracle_rig": {c: row(0.94) for c in cars}}
    metrics, status = summarize(scores, cars)
    write_json(folder / "evaluate.json", metrics)
    write_json(folder / "evaluate_cars.json", {"cars": cars, "status": status,
                                               "per_car": {c: {v: s[c] for v, s in scores.items()} for c in cars}})
    (folder / "evaluate").mkdir()
    for car in cars:
        Image.new("RGB", (40, 20), (200, 0, 0)).save(folder / "evaluate" / f"{car}.png")
    write_json(folder / "synth.json", {"total_seconds": 12.5, "time_split_s": {"render": 9.0}})
    write_json(folder / "synth_info.json", {"num_cars": 200, "styles": {"suv": 3}})
    write_json(folder / "fit_mesh_x_objects.json", {"car_000": {"seconds": 3.0, "iterations": 10}})
    (folder / "fit_mesh" / "x").mkdir(parents=True)
    for k, car in enumerate(cars):
        lines = ["iteration,loss,silhouette"] + [f"{i},{1.0 / (i + 1 + k)},{0.5 / (i + 1)}" for i in range(0, 200, 10)]
        write_text(folder / "fit_mesh" / "x" / f"{car}.csv", "\n".join(lines) + "\n")
        Image.new("RGB", (10, 10)).save(folder / "fit_mesh" / "x" / f"{car}_turntable.png")
    (folder / ".fit_mesh.tmp123").mkdir()  # a writer's temporary sibling: never linked
    Image.new("RGB", (10, 10)).save(folder / ".fit_mesh.tmp123" / "half.png")


def test_report_links_are_relative_and_exist(tmp_path):
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    fake_metrics(metrics)
    out = metrics / "report"
    with atomic_dir(out) as tmp:  # as the stage writes it: into a temporary folder, renamed at the end
        write_report(metrics, tmp, page_dir=out)
    page = (out / "index.html").read_text()
    parser = Links()
    parser.feed(page)
    assert parser.urls, "the page links nothing"
    for url in parser.urls:
        assert "://" not in url and not url.startswith(("/", "data:", "//")), url
        assert (out / url).resolve().is_file(), f"{url} does not exist"
    assert "url(" not in page and "@import" not in page and "<script" not in page
    linked = {(out / url).resolve() for url in parser.urls}
    assert (metrics / "evaluate" / "car_000.png").resolve() in linked
    assert (metrics / "fit_mesh" / "x" / "car_001_turntable.png").resolve() in linked
    assert not any(".fit_mesh.tmp123" in url for url in parser.urls)
    charts = sorted(p.name for p in (out / "curves").iterdir())
    assert charts == ["fit_mesh__x__loss.png", "fit_mesh__x__silhouette.png"]
    assert all(f"curves/{name}" in parser.urls for name in charts)
    # the variants table: scored ones with numbers, the chain and the others marked missing
    assert page.count("<td class=\"missing\">missing</td>") >= 6 * 4
    assert "0.95" in page and "0.94" in page and "synth_info.json" in page


def test_report_stage_writes_the_page_and_bad_folder_is_one_line(tmp_path):
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    fake_metrics(metrics)
    run = lambda *flags: subprocess.run([sys.executable, "-m", "stages.report", *flags], cwd=tmp_path,  # noqa: E731
                                        capture_output=True, text=True, env={"PYTHONPATH": str(ROOT), "PATH": ""})
    proc = run("--metrics", "metrics", "--out", "metrics/report")
    assert proc.returncode == 0, proc.stderr
    assert (metrics / "report" / "index.html").is_file()
    assert not [p for p in metrics.iterdir() if p.name.startswith(".report")]  # no temporary folder left
    proc = run("--metrics", "nowhere", "--out", "nowhere/report")
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == ["error: nowhere: metrics folder not found"]


def test_report_deps_cover_every_metrics_output():
    """Whatever another stage writes under metrics/ (metrics, plots, plain JSON) is a dep of report, so the page is
    rebuilt when it changes (a stage added later must add its files to report's deps)."""
    from dvc.repo import Repo

    with Repo(str(ROOT)) as repo:
        stages = {stage.addressing: stage for stage in repo.index.stages}
    report_deps = [PurePosixPath(dep.def_path) for dep in stages["report"].deps]
    written = sorted(out.def_path for name, stage in stages.items() if name != "report" for out in stage.outs
                     if PurePosixPath(out.def_path).parts[0] == "metrics")
    assert written
    uncovered = [path for path in written
                 if not any(PurePosixPath(path) == dep or dep in PurePosixPath(path).parents for dep in report_deps)]
    assert not uncovered, f"dvc.yaml stage 'report': deps do not cover {uncovered}"


# ----------------------------------------------------------------------------- charts


def test_line_chart_draws_series_and_picks_log_scale(tmp_path):
    xs = list(range(0, 100, 10))
    losses = {"a": (xs, [10.0 ** (-i / 10) for i in xs]), "b": (xs, [0.5] * len(xs))}
    assert use_log_scale(losses) and not use_log_scale({"b": losses["b"]})
    image = line_chart(losses, "loss", "iteration")
    pixels = np.asarray(image)
    assert image.size == (440, 270)
    blue = (pixels == (0, 114, 178)).all(-1).sum()  # the first series' colour
    orange = (pixels == (213, 94, 0)).all(-1).sum()
    assert blue > 100 and orange > 100
    empty = np.asarray(line_chart({"a": ([0, 1], [math.nan, math.nan])}, "t", "x"))
    assert not (empty == (0, 114, 178)).all(-1).any()
    assert nice_step(1.0) == pytest.approx(0.2) and nice_step(730) == pytest.approx(200)


def test_read_curve(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("step,loss\n0,1.5\n10,oops\n")
    curve = read_curve(path)
    assert curve["step"] == [0.0, 10.0] and curve["loss"][0] == 1.5 and math.isnan(curve["loss"][1])
    (tmp_path / "empty.csv").write_text("")
    assert read_curve(tmp_path / "empty.csv") == {}


def test_a_curve_whose_terms_start_at_different_rows_keeps_every_column(tmp_path):
    """ADA's r_t first appears after ada_interval steps: a first row without it must not lose the column (the
    writer once took the columns from the first row alone and raised on the second)."""
    from inverse_graphics.reporting import write_curve

    path = tmp_path / "curves.csv"
    write_curve(path, [{"kimg": 0.1, "loss_G": 2.0}, {"kimg": 0.2, "loss_G": 1.5, "r_t": 0.7}])
    curve = read_curve(path)
    assert list(curve) == ["kimg", "loss_G", "r_t"]
    assert curve["loss_G"] == [2.0, 1.5]
    assert math.isnan(curve["r_t"][0]) and curve["r_t"][1] == 0.7
