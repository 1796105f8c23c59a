"""The stages of docs/architecture.md ("Layering") hold: no module imports a higher stage or
a peer stage, nothing imports the CLI, and no modules import each other in a circle.

Every import counts, those inside functions too (a lazy import is still a dependency);
imports under ``if TYPE_CHECKING:`` do not (they never run). The import graph is read with
``ast`` from the source, so a module that fails to import is still checked. A new top-level
package must be given a stage here, or ``test_every_module_has_a_stage`` fails.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "hardbox"

# Stage -> rank. A module may import its own stage and lower ranks, never a higher rank nor
# another stage of the same rank (runtime and scan never import each other).
RANKS: dict[str, int] = {
    "base": 0,
    "net": 1, "dockerfile": 1,  # libraries on the base: HTTP (the registry's), Dockerfile parsing
    "image": 2,
    "runtime": 3, "scan": 3,
    "report": 4,
    "minimize": 5, "gate": 5,
    "cli": 6,
}
# The shared modules below every stage; ``hardbox`` itself holds only ``__version__``.
BASE = ("errors", "findings", "root", "resources", "yamldoc", "jsondoc", "named_input", "secrets",
        "atomicfile", "records", "jsontext", "fileio")


def stage_of(module: str) -> str | None:
    parts = module.split(".")
    if parts == ["hardbox"] or parts[1] in BASE:
        return "base"
    if parts[1] == "__main__":
        return "cli"  # the `python -m hardbox` entry point is the CLI's
    return parts[1] if parts[1] in RANKS else None


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    file: str  # relative to the package's parent: hardbox/image/store/store.py
    line: int

    def where(self) -> str:
        return f"{self.file}:{self.line}"


def modules(package: Path) -> dict[str, Path]:
    found = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _type_checking_nodes(tree: ast.Module) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(child) for child in ast.walk(node)}
    return skipped


def edges(package: Path) -> list[Edge]:
    """Every import of one of the package's modules, module-level or inside a function."""
    known = modules(package)
    found = []
    for source, path in known.items():
        tree = ast.parse(path.read_text(), str(path))
        skipped = _type_checking_nodes(tree)
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: resolved against this module's package
                    here = source.split(".") if path.name == "__init__.py" else source.split(".")[:-1]
                    here = here[: len(here) - (node.level - 1)]
                    base = ".".join([*here, base] if base else here)
                # `from pkg import name` imports pkg, and pkg.name when that is a module
                targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
            else:
                continue
            for target in targets:
                if target in known and target != source:
                    found.append(Edge(source, target, str(path.relative_to(package.parent)), node.lineno))
    return found


def layering_violations(package: Path) -> list[str]:
    problems = []
    for edge in edges(package):
        low, high = stage_of(edge.source), stage_of(edge.target)
        if low is None or high is None:
            continue  # test_every_module_has_a_stage names these
        if RANKS[high] > RANKS[low] or (RANKS[high] == RANKS[low] and high != low):
            problems.append(f"{edge.where()}: {edge.source} (stage {low}) imports {edge.target} "
                            f"(stage {high})")
    return problems


def cycles(package: Path) -> list[str]:
    """Each import circle (a strongly connected set of modules), with the imports that make it."""
    graph: dict[str, dict[str, Edge]] = {}
    for edge in edges(package):
        graph.setdefault(edge.source, {}).setdefault(edge.target, edge)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in graph.get(node, {}):
            if succ not in index:
                connect(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(modules(package)):
        if node not in index:
            connect(node)
    described = []
    for component in found:
        members = set(component)
        links = [f"{e.where()} imports {e.target}" for m in component
                 for e in graph.get(m, {}).values() if e.target in members]
        described.append(f"{' <-> '.join(component)}: " + "; ".join(links))
    return described


def test_no_module_imports_a_higher_or_peer_stage() -> None:
    problems = layering_violations(PACKAGE)
    assert not problems, "imports against the stages of docs/architecture.md:\n" + "\n".join(problems)


def test_every_module_has_a_stage() -> None:
    unplaced = [name for name in modules(PACKAGE) if stage_of(name) is None]
    assert not unplaced, f"give these a stage in RANKS/BASE (and docs/architecture.md): {unplaced}"


def test_no_import_cycles() -> None:
    found = cycles(PACKAGE)
    assert not found, "import cycles:\n" + "\n".join(found)


# The checker itself, on planted packages: a test that cannot fail proves nothing.

def _plant(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / "hardbox" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for folder in {p.parent for p in (root / "hardbox").rglob("*.py")}:
        (folder / "__init__.py").touch()
    return root / "hardbox"


def test_a_lazy_import_of_a_higher_stage_is_named_with_its_file_and_line(tmp_path: Path) -> None:
    package = _plant(tmp_path, {
        "image/store.py": "def remove():\n    from hardbox.runtime.state import StateStore\n",
        "runtime/state.py": "from hardbox.image import store\n",
        "scan/walk.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from hardbox.runtime import state\n",
    })
    assert layering_violations(package) == [
        "hardbox/image/store.py:2: hardbox.image.store (stage image) imports hardbox.runtime.state (stage runtime)"
    ]


def test_peer_stages_and_the_cli_are_off_limits(tmp_path: Path) -> None:
    package = _plant(tmp_path, {
        "scan/scanner.py": "import hardbox.runtime.seccomp\n",
        "runtime/seccomp.py": "",
        "gate/rules.py": "from hardbox.cli import main\n",
        "cli/main.py": "",
    })
    assert sorted(layering_violations(package)) == [
        "hardbox/gate/rules.py:1: hardbox.gate.rules (stage gate) imports hardbox.cli (stage cli)",
        "hardbox/gate/rules.py:1: hardbox.gate.rules (stage gate) imports hardbox.cli.main (stage cli)",
        "hardbox/scan/scanner.py:1: hardbox.scan.scanner (stage scan) imports hardbox.runtime.seccomp (stage runtime)",
    ]


def test_a_cycle_through_a_function_level_import_is_found(tmp_path: Path) -> None:
    package = _plant(tmp_path, {
        "image/store.py": "from hardbox.image import importer\n",
        "image/importer.py": "def f():\n    from .store import Store\n",
    })
    assert cycles(package) == [
        "hardbox.image.importer <-> hardbox.image.store: hardbox/image/importer.py:2 imports "
        "hardbox.image.store; hardbox/image/store.py:1 imports hardbox.image.importer"
    ]
