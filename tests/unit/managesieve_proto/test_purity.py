"""managesieve_proto imports only the stdlib, ``hivemail.wire`` and itself (DESIGN.md, dependency rules).

In particular not ``hivemail.auth`` (it needs scramp): SASL runs in the session."""

import ast
import sys
from pathlib import Path

import hivemail.managesieve_proto

ROOT = Path(hivemail.managesieve_proto.__file__).parent


def imported_names():
    for path in ROOT.rglob("*.py"):
        package = ["hivemail", "managesieve_proto", *path.relative_to(ROOT).parent.parts]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                names = [".".join([*base, node.module] if node.module else base)]
            else:
                continue
            for name in names:
                yield path.name, name


def test_managesieve_proto_is_pure():
    offenders = []
    for filename, name in imported_names():
        top = name.split(".")[0]
        if top == "hivemail":
            if not name.startswith(("hivemail.wire", "hivemail.managesieve_proto")):
                offenders.append((filename, name))
        elif top not in sys.stdlib_module_names or top == "asyncio":
            offenders.append((filename, name))
    assert offenders == []


def test_the_walk_sees_the_relative_imports():
    names = {name for _, name in imported_names()}
    assert "hivemail.wire.reader" in names and "hivemail.managesieve_proto.tokens" in names
