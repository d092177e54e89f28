"""Shared entry point for stage scripts: one-line errors and exit code 2 on bad input."""

from __future__ import annotations

import os
import sys
from typing import Callable

from inverse_graphics.errors import UserError


def run_stage(main: Callable[[], None]) -> None:
    """Call ``main()``; a ``UserError`` becomes ``error: <message>`` on stderr and exit code 2."""
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    try:
        main()
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
