"""hivemail.outbound is a leaf: stdlib, itself and hivemail.durable only, so the delivery
code (Sieve, LMTP) can use it without a cycle (DESIGN.md, dependency rules)."""

import ast
import sys
from pathlib import Path

import hivemail.outbound

ROOT = Path(hivemail.outbound.__file__).parent


def test_outbound_imports_only_the_stdlib_and_itself():
    offenders = []
    for path in ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = ["hivemail.outbound" if node.level else (node.module or "")]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                # hivemail.durable: the durable-file helpers, stdlib only too.
                if top == "hivemail" and not name.startswith(("hivemail.outbound", "hivemail.durable")):
                    offenders.append((path.name, name))
                elif top not in ("hivemail", "__future__") and top not in sys.stdlib_module_names:
                    offenders.append((path.name, name))
    assert offenders == []
    assert len(list(ROOT.glob("*.py"))) == 5
