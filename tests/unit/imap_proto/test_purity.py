"""imap_proto imports only the stdlib, ``hivemail.wire`` and itself (DESIGN.md, dependency rules)."""

import ast
import sys
from pathlib import Path

import hivemail.imap_proto

ROOT = Path(hivemail.imap_proto.__file__).parent


def test_imap_proto_is_pure():
    offenders = []
    for path in ROOT.rglob("*.py"):
        package = ["hivemail", "imap_proto", *path.relative_to(ROOT).parent.parts]
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                names = [".".join([*base, node.module] if node.module else base)]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if name.startswith("hivemail.") and not name.startswith(("hivemail.wire", "hivemail.imap_proto", "hivemail.mime")):
                    offenders.append((path.name, name))
                elif top != "hivemail" and top not in sys.stdlib_module_names:
                    offenders.append((path.name, name))
                elif top == "asyncio":
                    offenders.append((path.name, name))
    assert offenders == []
