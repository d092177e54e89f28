"""Every DVC stage's ``deps`` cover the project files its ``cmd`` runs: a code change always makes it stale.

For each stage of ``dvc.yaml`` (as DVC itself resolves it: ``${...}`` interpolated, ``foreach``
expanded) the Python script its ``cmd`` runs (``python -m pkg.mod`` or ``python path.py``) is
followed through its project-internal imports (absolute and relative, at module level or inside
functions; package ``__init__.py`` files included) and through files named next to a module
(``csrc/`` of the silhouette kernel). A dep covers a file when it is the file or a folder above it.
"""

from __future__ import annotations

import ast
import shlex
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYTHONS = ("python", "python3")


# ----------------------------------------------------------------------------- the checker


def _module_file(name: str, search: list[Path]) -> list[Path]:
    """Files that ``import name`` executes when found under ``search``: each package's ``__init__.py``
    on the way and the module itself (``[]`` when ``name`` is not a project module)."""
    for base in search:
        parts = name.split(".")
        files = []
        for depth in range(1, len(parts) + 1):
            stem = base.joinpath(*parts[:depth])
            if (stem / "__init__.py").is_file():
                files.append(stem / "__init__.py")
            elif depth == len(parts) and stem.with_suffix(".py").is_file():
                files.append(stem.with_suffix(".py"))
            elif not (depth < len(parts) and stem.is_dir()):  # else: a namespace package, go on
                break
        else:
            return files
    return []


def _package_of(path: Path, search: list[Path]) -> list[str]:
    """Dotted package of the module file ``path`` relative to the search root that holds it."""
    for base in search:
        if base in path.parents:
            parts = list(path.relative_to(base).with_suffix("").parts)
            return parts if path.name == "__init__.py" else parts[:-1]
    return []


def _imports(path: Path, search: list[Path]) -> set[Path]:
    """Project files imported anywhere in ``path`` (module level, functions, classes, try blocks), plus
    the non-Python files that a string literal in it names next to it: a file, or a folder that is not
    a package (data such as ``csrc/kernel.cpp``)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[Path] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.update(_module_file(alias.name, search))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = _package_of(path, search)
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.update(_module_file(module, search))
            for alias in node.names:  # ``from pkg import submodule``
                found.update(_module_file(f"{module}.{alias.name}", search))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and 0 < len(node.value) < 200:
            if "\n" in node.value or "\0" in node.value:
                continue
            folder = path.parent.resolve()
            sibling = (folder / node.value).resolve()
            if folder not in sibling.parents:  # only files and folders inside the module's own folder
                continue
            if sibling.is_file() and sibling.suffix != ".py":
                found.add(sibling)
            elif sibling.is_dir() and not (sibling / "__init__.py").is_file():  # code comes in by imports only
                found.update(p for p in sibling.rglob("*") if p.is_file() and p.suffix not in (".py", ".pyc"))
    return {p.resolve() for p in found}


def import_closure(entry: Path, search: list[Path]) -> set[Path]:
    """``entry`` and every project file it imports, directly or not."""
    todo, seen = [entry.resolve()], set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        if path.suffix == ".py":
            todo.extend(_imports(path, search) - seen)
    return seen


def entry_points(cmd: str | list[str], root: Path) -> list[tuple[Path, list[Path]]]:
    """(script, import search path) for every ``python -m module`` / ``python file.py`` in ``cmd``."""
    found = []
    for command in [cmd] if isinstance(cmd, str) else cmd:
        words = shlex.split(command)
        for i, word in enumerate(words):
            if PurePosixPath(word).name not in PYTHONS and not PurePosixPath(word).name.startswith("python3."):
                continue
            rest = [w for w in words[i + 1:] if w not in ("-u", "-O", "-B")]
            if len(rest) >= 2 and rest[0] == "-m":
                files = _module_file(rest[1], [root]) or _module_file(f"{rest[1]}.__main__", [root])
                if files:
                    found.append((files[-1], [root]))
                else:
                    found.append((root / (rest[1].replace(".", "/") + ".py"), [root]))
            elif rest and rest[0].endswith(".py"):
                script = root / rest[0]
                found.append((script, [script.parent, root]))
    return found


def _covers(dep: str, file: str) -> bool:
    dep = str(PurePosixPath(dep.rstrip("/")))
    return file == dep or file.startswith(dep + "/")


def uncovered(cmd: str | list[str], deps: list[str], root: Path = ROOT) -> list[str]:
    """Project files (relative to ``root``) that ``cmd`` runs or imports and no dep covers.

    A cmd that runs no Python script this checker can follow is reported as ``<cmd ...>`` so that a
    new kind of stage cannot pass unchecked.
    """
    points = entry_points(cmd, root)
    if not points:
        return [f"<cmd {cmd!r}: no `python -m module` or `python script.py` found>"]
    files: set[Path] = set()
    for script, search in points:
        if not script.is_file():
            return [f"<cmd {cmd!r}: {script} not found>"]
        files |= import_closure(script, search)
    relative = sorted(p.relative_to(root.resolve()).as_posix() for p in files)
    return [f for f in relative if not any(_covers(dep, f) for dep in deps)]


def dvc_stages(root: Path = ROOT) -> dict[str, tuple[str | list[str], list[str]]]:
    """Stage name -> (cmd, deps as written after interpolation), as DVC resolves ``dvc.yaml``."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        return {stage.addressing: (stage.cmd, [dep.def_path for dep in stage.deps]) for stage in repo.index.stages}


def missing_deps_message(name: str, missing: list[str]) -> str:
    return f"dvc.yaml stage {name!r}: deps do not cover " + ", ".join(missing)


# ----------------------------------------------------------------------------- the tests

STAGES = dvc_stages()


@pytest.mark.parametrize("name", sorted(STAGES))
def test_deps_cover_the_import_closure(name):
    cmd, deps = STAGES[name]
    missing = uncovered(cmd, deps)
    assert not missing, missing_deps_message(name, missing)


def test_every_stage_runs_a_project_script():
    assert STAGES, "dvc.yaml has no stages"
    for name, (cmd, _) in STAGES.items():
        assert entry_points(cmd, ROOT), f"{name}: cmd {cmd!r} runs no python script"


def test_removing_a_dep_is_caught():
    """Drop the dep that covers fit/optim.py from fit_mesh: the checker names that file."""
    cmd, deps = STAGES["fit_mesh"]
    target = "inverse_graphics/fit/optim.py"
    assert any(_covers(dep, target) for dep in deps)
    fewer = [dep for dep in deps if not _covers(dep, target)]
    missing = uncovered(cmd, fewer)
    assert target in missing
    assert target in missing_deps_message("fit_mesh", missing)


def test_interpolated_deps_are_resolved():
    """``${fit.input}`` and ``${fit3d.target}`` arrive as the paths params.yaml gives them."""
    import yaml

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert params["fit"]["input"] in STAGES["fit_mesh"][1]
    assert params["fit3d"]["target"] in STAGES["fit_mesh_3d"][1]
    assert not any("${" in dep for _, deps in STAGES.values() for dep in deps)


def test_closure_follows_every_kind_of_import(tmp_path):
    """A toy project: relative, absolute, in-function, ``from pkg import module``, package data, scripts."""
    files = {
        "pkg/__init__.py": "",
        "pkg/a.py": "from .b import f\nimport os\n\ndef g():\n    from pkg.sub import c\n",
        "pkg/b.py": "from . import d\nKERNEL = 'csrc'\n",
        "pkg/csrc/k.cpp": "int x;\n",
        "pkg/d.py": "",
        "pkg/sub/__init__.py": "",
        "pkg/sub/c.py": "from ..e import h\n",
        "pkg/e.py": "",
        "pkg/unused.py": "",
        "tools/run.py": "import helper\nimport pkg.a\n",
        "tools/helper.py": "",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    everything = sorted(set(files) - {"pkg/unused.py"})
    assert uncovered("python -m pkg.a", [], tmp_path) == sorted(set(everything) - {"tools/run.py", "tools/helper.py"})
    assert uncovered("python tools/run.py --flag x", [], tmp_path) == everything
    assert uncovered("python tools/run.py", ["pkg", "tools/run.py"], tmp_path) == ["tools/helper.py"]
    assert uncovered("python -m pkg.a", ["pkg/"], tmp_path) == []
    assert uncovered("echo hi", ["pkg"], tmp_path)[0].startswith("<cmd")
