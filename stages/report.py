"""Stage ``report``: ``--out/index.html``, an offline page over the ``--metrics`` folder (runs last).

The results table of every stage (the JSON files in ``--metrics``), the comparison pictures of ``evaluate``,
every curve CSV drawn as a PNG chart (``--out/curves/``) and the stages' pictures; relative links only, no
network (``inverse_graphics/evaluate/report.py``).
"""

from __future__ import annotations

import argparse

from inverse_graphics.errors import UserError
from inverse_graphics.evaluate.report import write_report
from inverse_graphics.io_utils import atomic_dir
from stages._runner import run_stage

PATHS = {
    "metrics": "the metrics folder the stages write (metrics)",
    "out": "output folder for index.html and curves/ (inside --metrics: metrics/report)",
}


def main(args: argparse.Namespace) -> None:
    if not args.metrics.is_dir():
        raise UserError(f"{args.metrics}: metrics folder not found")
    with atomic_dir(args.out) as tmp:
        write_report(args.metrics, tmp, page_dir=args.out)
    print(f"report: {args.out / 'index.html'}")


if __name__ == "__main__":
    run_stage("report", main, PATHS)
