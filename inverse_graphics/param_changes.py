"""``params.yaml`` changes in DVC's ``-S`` form, for the study scripts that re-run a stage under several settings.

A configuration is ``NAME:section.key=value[,section.key=value...]``; ``apply_changes`` sets the dotted keys
on a copy of the params, refuses keys outside the sections a study may change, and checks the result against
the params schema (its error names the key).
"""

from __future__ import annotations

import copy

import yaml

from .errors import UserError
from .params import validate


def parse_config(text: str) -> tuple[str, dict[str, object]]:
    """``"name:fit.lr=0.5,render.sigma_final=1e-5"`` -> ``("name", {"fit.lr": 0.5, ...})``."""
    name, sep, changes = text.partition(":")
    if not sep or not name or not changes:
        raise UserError(f"--config {text!r}: expected NAME:section.key=value[,section.key=value...]")
    out = {}
    for change in changes.split(","):
        key, sep, value = change.partition("=")
        if not sep:
            raise UserError(f"--config {name}: {change!r} is not key=value")
        out[key.strip()] = parse_value(value.strip())
    return name, out


def parse_value(text: str) -> object:
    """A number if it reads as one (``1e-5`` too, which YAML 1.1 leaves a string), else YAML (null, true, words)."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return yaml.safe_load(text)


def apply_changes(params: dict, changes: dict[str, object], name: str, sections: tuple[str, ...]) -> dict:
    """A copy of ``params`` with the dotted ``changes`` set; each key must exist in one of ``sections`` and
    the result must pass the params schema."""
    out = copy.deepcopy(params)
    for dotted, value in changes.items():
        *parents, leaf = dotted.split(".")
        if not parents or parents[0] not in sections:
            raise UserError(f"--config {name}: {dotted}: only {' and '.join(sections)} keys can change here")
        node = out
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict) or leaf not in node:
            raise UserError(f"--config {name}: {dotted}: no such key in params.yaml")
        node[leaf] = value
    try:
        validate(out, list(sections))
    except UserError as err:
        raise UserError(f"--config {name}: {err}") from None
    return out
