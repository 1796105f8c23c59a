"""Dockerfile parsing and lint (``hardbox lint``): a stage below ``gate``, which folds lint
findings into its decision with ``hardbox gate --dockerfile``."""

from hardbox.dockerfile.lint import RULES, LintResult, lint, lint_file
from hardbox.dockerfile.model import LintFinding
from hardbox.dockerfile.parser import Dockerfile, parse_file, parse_text

__all__ = ["RULES", "Dockerfile", "LintFinding", "LintResult", "lint", "lint_file", "parse_file", "parse_text"]
