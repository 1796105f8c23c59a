"""Maps the top-level data folders into the package.

policies/ and templates/ sit at the top of the repository (they are data, reviewed as data)
but must ship inside the wheel, so they are installed as hardbox.policies and
hardbox.templates; hardbox/resources.py finds them either way.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["hardbox", "hardbox.*"]), "hardbox.policies", "hardbox.templates"],
    package_dir={"hardbox.policies": "policies", "hardbox.templates": "templates"},
    package_data={"hardbox.policies": ["**/*"], "hardbox.templates": ["**/*"], "hardbox": ["py.typed"]},
)
