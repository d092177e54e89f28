"""Shared entry point for stage scripts: paths from the command line, one-line errors, exit code 2.

Every input and output path of a stage is a required ``--flag`` that ``dvc.yaml``'s ``cmd`` passes
(``python -m stages.fit_mesh --input data/heldout --views rig --out models/meshes/oracle_rig ...``),
so the paths live in one place, beside the stage's ``deps`` and ``outs``, and cannot drift from them.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Callable, Sequence

from inverse_graphics.errors import UserError


class _Parser(argparse.ArgumentParser):
    """An argument parser whose mistakes are ``UserError``s (one line) rather than usage + exit."""

    def error(self, message: str):
        raise UserError(f"{self.prog}: {message} (see --help; dvc.yaml's cmd passes every path)")


def parse_paths(stage: str, paths: dict[str, str], argv: Sequence[str] | None = None,
                switches: dict[str, str] | None = None) -> argparse.Namespace:
    """Parse the required path flags of ``stage``: ``paths`` maps flag name -> help text; ``switches`` (optional
    on/off flags, False when absent) likewise.

    ``--metrics-file`` style names become attributes ``metrics_file``; every path value is a ``Path``.
    """
    parser = _Parser(prog=f"stages.{stage}", description=f"DVC stage {stage!r}; see dvc.yaml.")
    for name, help_text in paths.items():
        parser.add_argument(f"--{name}", type=Path, required=True, help=help_text)
    for name, help_text in (switches or {}).items():
        parser.add_argument(f"--{name}", action="store_true", help=help_text)
    return parser.parse_args(argv)


def run_stage(
    stage: str,
    main: Callable[[argparse.Namespace], None],
    paths: dict[str, str],
    argv: Sequence[str] | None = None,
    switches: dict[str, str] | None = None,
) -> None:
    """Parse ``paths`` from ``argv`` (default ``sys.argv[1:]``) and call ``main(args)``.

    A ``UserError`` (a bad flag, param or input file) becomes ``error: <message>`` on stderr and
    exit code 2.
    """
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    try:
        main(parse_paths(stage, paths, argv, switches))
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
