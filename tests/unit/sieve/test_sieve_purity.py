"""The Sieve library stays pure: stdlib and itself only (DESIGN.md principle 1)."""

from __future__ import annotations

import ast
from pathlib import Path

import hivemail.sieve

ALLOWED = {"__future__", "bisect", "dataclasses", "datetime", "email", "hashlib", "re", "time", "typing"}


def test_sieve_imports_only_the_stdlib_and_itself() -> None:
    package = Path(hivemail.sieve.__file__).parent
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                roots = {(node.module or "").split(".")[0]}
            else:
                continue
            assert roots <= ALLOWED, f"{path.name} imports {roots - ALLOWED}"
