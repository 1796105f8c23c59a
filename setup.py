"""Maps the top-level data folders into the package.

policies/ and templates/ sit at the top of the repository (they are data, reviewed as data)
but must ship inside the wheel, so they are installed as hardbox.policies and
hardbox.templates (and their subfolders as subpackages of those, which is how setuptools
wants data folders declared); hardbox/resources.py finds them either way.

The `hardbox` command is scripts/hardbox, installed as a script rather than generated from a
`[project.scripts]` entry point: pip's generated wrapper imports `re` before hardbox runs,
~12 ms of `hardbox run`'s start-up (issue 14). pip writes the environment's interpreter over
its `#!python` line, for `pip install .` and `pip install -e .` alike.
"""

from pathlib import Path

from setuptools import find_packages, setup


def data_packages(package: str, folder: str) -> dict[str, str]:
    """``hardbox.policies`` → ``policies``, ``hardbox.policies.gate`` → ``policies/gate``, …"""
    found = {package: folder}
    for sub in sorted(Path(folder).rglob("*")):
        if sub.is_dir() and "__pycache__" not in sub.parts:
            found[".".join([package, *sub.relative_to(folder).parts])] = str(sub)
    return found


DATA = {**data_packages("hardbox.policies", "policies"), **data_packages("hardbox.templates", "templates")}

setup(
    packages=[*find_packages(include=["hardbox", "hardbox.*"]), *DATA],
    package_dir=DATA,
    package_data={**{name: ["*"] for name in DATA}, "hardbox": ["py.typed"]},
    scripts=["scripts/hardbox"],
)
