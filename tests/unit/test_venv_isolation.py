"""The suite runs in a venv isolated from this machine's Python, and no test starts the base
interpreter. On a fresh machine the base interpreter holds none of hardbox's dependencies
(issue 15: the rootless tests ran ``Path(sys.executable).resolve()`` and passed only where
someone had pip-installed the dependencies globally), so a test that ran it would pass here
and fail there.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[2]
SCANNED = ("tests", "scripts", "bench")
# A line that names the base installation without running it (the rootless fixture binds it
# into the user's mount namespace, because the venv's python is a symlink into it) says so.
ALLOW = "venv-guard: exposed, not run"
_BASE_ATTRS = frozenset({"base_prefix", "base_exec_prefix", "_base_executable"})
_RESOLVERS = frozenset({"resolve", "realpath", "readlink", "canonicalize"})
_INTERPRETER = re.compile(r"(^|#!|\s)(/usr(/local)?/bin/python[\d.]*|/usr/bin/env python[\d.]*)(\s|$)")
_VENV_LEAK = "--system-site-packages"

# Started the way the tests start a subprocess: sys.executable, an empty environment, run
# from a directory outside the checkout. It imports every top-level module of every
# requirement of hardbox (runtime and dev) and says where each came from.
_PROBE = """
import importlib, json, sys
from importlib import metadata
wanted = set(sys.argv[1:])
where = {}
for module, dists in metadata.packages_distributions().items():
    if wanted & {d.lower().replace("_", "-") for d in dists} and not module.startswith("_"):
        where[module] = getattr(importlib.import_module(module), "__file__", None)
print(json.dumps({"prefix": sys.prefix, "path": sys.path, "modules": where}))
"""


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_suite_runs_in_a_venv_without_system_site_packages() -> None:
    assert sys.prefix != sys.base_prefix, "the tests run outside a venv: use .venv/bin/python -m pytest"
    settings = {}
    for line in (Path(sys.prefix) / "pyvenv.cfg").read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep:
            settings[key.strip()] = value.strip().lower()
    assert settings.get("include-system-site-packages") == "false", settings


def test_a_subprocess_imports_hardbox_dependencies_from_the_venv(tmp_path: Path) -> None:
    requirements = metadata.requires("hardbox") or []
    wanted = sorted({_normal(Requirement(r).name) for r in requirements})
    assert "zstandard" in wanted and "pytest" in wanted, wanted  # runtime and dev both counted
    proc = subprocess.run([sys.executable, "-c", _PROBE, *wanted], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin"}, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    child = json.loads(proc.stdout)
    venv = Path(sys.prefix).resolve()
    assert Path(child["prefix"]).resolve() == venv
    base = Path(sys.base_prefix).resolve()  # venv-guard: exposed, not run
    leaked = [p for p in child["path"] if "-packages" in p and base in Path(p).resolve().parents]
    assert not leaked, f"the base interpreter's packages are on the child's sys.path: {leaked}"
    found = {_normal(d) for m in child["modules"] for d in metadata.packages_distributions().get(m, [])}
    assert set(wanted) <= found, f"no importable module for {set(wanted) - found}"
    outside = {m: f for m, f in child["modules"].items()
               if f is not None and venv not in Path(f).resolve().parents}
    assert not outside, f"imported from outside the venv: {outside}"


def _contains_executable(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Attribute) and n.attr == "executable"
               and isinstance(n.value, ast.Name) and n.value.id == "sys" for n in ast.walk(node))


def base_interpreter_uses(source: str) -> list[tuple[int, str]]:
    """Lines of ``source`` that name or run the base interpreter instead of the venv's."""
    lines = source.splitlines()
    tree = ast.parse(source)
    # Docstrings may explain what not to do.
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                  and n.body and isinstance(n.body[0], ast.Expr)}
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        why = None
        if id(node) in docstrings:
            continue
        if isinstance(node, ast.Attribute) and node.attr in _BASE_ATTRS and \
                isinstance(node.value, ast.Name) and node.value.id == "sys":
            why = f"sys.{node.attr}"
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
            if name in _RESOLVERS and _contains_executable(node):
                why = f"{name}() of sys.executable"
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if _INTERPRETER.search(node.value):
                why = "a hard-coded interpreter path"
            elif _VENV_LEAK in node.value:
                why = _VENV_LEAK
        if why is not None and ALLOW not in lines[node.lineno - 1]:
            found.append((node.lineno, why))
    return sorted(found)


def test_the_scan_finds_each_way_of_reaching_the_base_interpreter() -> None:
    bad = (
        "import os, sys, subprocess\nfrom pathlib import Path\n"
        "subprocess.run([Path(sys.executable).resolve(), '-m', 'hardbox'])\n"
        "subprocess.run([os.path.realpath(sys.executable)])\n"
        "prefix = sys.base_prefix\n"
        "subprocess.run(['/usr/bin/python3', '-c', 'pass'])\n"
        "script = '#!/usr/bin/env python3\\nprint(1)\\n'\n"
        "subprocess.run([sys.executable, '-m', 'venv', '--system-site-packages', 'v'])\n"
        f"ok = sys.base_prefix  # {ALLOW}\n"
    )
    assert [line for line, _ in base_interpreter_uses(bad)] == [3, 4, 5, 6, 7, 8]
    good = ("import sys, subprocess\nsubprocess.run([sys.executable, '-m', 'hardbox'])\n"
            "TRACE = 'openat(\"/usr/lib/python3.11/os.py\")'\n")
    assert base_interpreter_uses(good) == []


def test_no_test_script_or_benchmark_starts_the_base_interpreter() -> None:
    this = Path(__file__).resolve()
    offenders = [f"{path.relative_to(REPO)}:{line}: {why}"
                 for folder in SCANNED for path in sorted((REPO / folder).rglob("*.py"))
                 if path.resolve() != this
                 for line, why in base_interpreter_uses(path.read_text())]
    assert not offenders, "use sys.executable (the venv's interpreter):\n" + "\n".join(offenders)
