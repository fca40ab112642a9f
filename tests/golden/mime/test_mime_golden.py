"""Golden files for MIME analysis: one NN.expected per fixture message.

Each file shows ENVELOPE, BODY and BODYSTRUCTURE (pretty-printed, see
tests/support/imap_values.py) and the byte ranges of every section.  On a
mismatch the test writes NN.actual next to it and fails with a diff;
``pytest --regen-golden`` rewrites the expected files for review.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from hivemail.mailstore.sortkeys import base_subject, preview
from hivemail.imap_proto.bodystructure import body, envelope
from hivemail.mime import MessageAnalysis, analyse, normalise_crlf
from tests.support.imap_values import parse, pretty

HERE = Path(__file__).parent
FIXTURES = HERE.parents[1] / "fixtures" / "messages"
MESSAGES = sorted(FIXTURES.glob("*.eml"))
MAX_SECTIONS = 40


def golden_name(path: Path) -> str:
    return path.name.split("-", 1)[0]


def imap_items(a: MessageAnalysis) -> str:
    out = []
    for name, value in (("ENVELOPE", envelope(a)), ("BODY", body(a, False)), ("BODYSTRUCTURE", body(a, True))):
        out.append(name)
        out.append(pretty(parse(value), 1))
    return "\n".join(out) + "\n"


def _sections(a: MessageAnalysis) -> list[tuple[tuple[int, ...], object]]:
    """Every section number reachable in the message, depth first."""
    found: list[tuple[tuple[int, ...], object]] = []
    todo: list[tuple[int, ...]] = [()]
    while todo and len(found) < MAX_SECTIONS:
        sec = todo.pop(0)
        p = a.part(sec)
        if p is None:
            continue
        found.append((sec, p))
        kids = []
        n = 1
        while a.part(sec + (n,)) is not None and n <= 50:
            if a.part(sec + (n,)) is p:  # "1" of a non-multipart message is itself
                found.append((sec + (n,), p))
                break
            kids.append(sec + (n,))
            n += 1
        todo[0:0] = kids
    return found


def render(path: Path) -> str:
    raw = normalise_crlf(path.read_bytes())
    a = analyse(raw)
    lines = [f"# {path.name}", f"SIZE {a.size}", imap_items(a).rstrip("\n"), "SECTIONS"]
    for sec, p in _sections(a):
        label = ".".join(map(str, sec)) or "()"
        lines.append(
            f"  {label:<12} {p.content_type:<28} header=[{p.header_start},{p.header_end})"
            f" body=[{p.body_start},{p.body_end}) lines={p.lines}"
        )
    lines.append(f"SUBJECT {a.subject!r}")
    lines.append(f"BASE-SUBJECT {base_subject(a.subject)[0]!r}")
    lines.append(f"FROM {a.from_addr!r}")
    lines.append(f"DATE {a.sent_date.isoformat() if a.sent_date else None}")
    lines.append(f"PREVIEW {preview(a, raw)[:80]!r}")
    return "\n".join(lines) + "\n"


def check_golden(expected_path: Path, actual: str, regen: bool) -> None:
    actual_path = expected_path.with_suffix(".actual")
    if regen:
        expected_path.write_text(actual, encoding="utf-8")
        actual_path.unlink(missing_ok=True)
        return
    if not expected_path.exists():
        actual_path.write_text(actual, encoding="utf-8")
        pytest.fail(f"{expected_path.name} missing; wrote {actual_path.name} (run pytest --regen-golden)")
    expected = expected_path.read_text(encoding="utf-8")
    if expected != actual:
        actual_path.write_text(actual, encoding="utf-8")
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(True), actual.splitlines(True), str(expected_path.name), str(actual_path.name)
            )
        )
        pytest.fail(f"golden mismatch, wrote {actual_path}:\n{diff}")
    actual_path.unlink(missing_ok=True)


@pytest.mark.parametrize("path", MESSAGES, ids=golden_name)
def test_mime_golden(path: Path, regen_golden: bool) -> None:
    check_golden(HERE / f"{golden_name(path)}.expected", render(path), regen_golden)


def test_every_fixture_has_a_golden_file() -> None:
    assert len(MESSAGES) >= 25
    for path in MESSAGES:
        assert (HERE / f"{golden_name(path)}.expected").exists(), path.name
