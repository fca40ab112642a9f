"""Our ENVELOPE/BODY/BODYSTRUCTURE against Dovecot's.

Two layers:

* ``test_matches_recorded_dovecot`` compares with Dovecot's answers stored
  in tests/golden/mime/NN.dovecot (no Dovecot needed; the comparison is
  visible in the repository).
* ``test_live_dovecot`` (marked ``dovecot``) starts a private Dovecot
  (tests/support/dovecot.py), APPENDs every fixture and a few probes, and
  compares live.  With ``--regen-golden`` it rewrites the NN.dovecot files.
  If Dovecot is missing it skips, except under CI=true where it fails
  (``make test`` always installs Dovecot).

Both sides go through the same normalisation: parse the IMAP value and
pretty-print it (tests/support/imap_values.py), which keeps the
quoted/literal choice visible.

``DELIBERATE_DIFFERENCES`` names every place where Dovecot breaks an RFC
and we do not follow it, with the RFC section.  The test asserts those
items really differ, so the list cannot go stale.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hivemail.imap_proto.bodystructure import body, envelope
from hivemail.mime import analyse, normalise_crlf
from tests.support.ci import skip_or_fail
from tests.support.dovecot import find_dovecot
from tests.support.imap_values import parse, pretty

from .dovecot_fetch import ITEMS, fetch_structures

ROOT = Path(__file__).parents[1]
FIXTURES = sorted((ROOT / "fixtures" / "messages").glob("*.eml"))
GOLDEN = ROOT / "golden" / "mime"

# (fixture number or probe name, item) -> why we differ from Dovecot, with
# the RFC section.  Dovecot 2.3.19 and hivemail agree byte for byte on every
# fixture of the corpus.  Add an entry here (not a silent golden edit)
# whenever we choose the RFC over Dovecot.
_NO_BOUNDARY = (
    "RFC 2046 s5.1.1 makes the boundary parameter mandatory, so the Content-Type is "
    "syntactically invalid; RFC 2045 s5.2 recommends the text/plain; charset=us-ascii "
    "default.  Dovecot reports a multipart holding one empty text/plain part, which "
    "hides the body from BODY[1]; we report the body as the text/plain it defaults to."
)
_NO_SUBTYPE = (
    "RFC 2045 s5.1 requires type \"/\" subtype and s5.2 recommends text/plain; "
    "charset=us-ascii for a syntactically invalid Content-Type.  Dovecot sends an "
    "empty media-subtype (\"text\" \"\"), which names no media type."
)
_DELIMITER_CRLF = (
    "RFC 2046 s5.1.1: the CRLF preceding a boundary delimiter line belongs to the "
    "delimiter.  When an entity's header runs into the next delimiter (no empty line), "
    "Dovecot counts that CRLF into the part (size +2, lines +1); we do not."
)
_EXT_VALUE = (
    "RFC 2231 s4/s7: an extended value is *(ext-octet / attribute-char), so a plain "
    "continuation segment (\"b c\") joined into it must be %-encoded (\"b%20c\"). "
    "Dovecot pastes it in raw, producing a value that no RFC 2231 decoder accepts."
)
_EMPTY_LIST_MEMBERS = (
    "RFC 5322 s4.4: in obs-addr-list \"null members of the list are to be ignored\"; "
    "Dovecot reports each empty member of \"Cc: ,,\" as MISSING_MAILBOX@MISSING_DOMAIN."
)
_DUPLICATE_FIELDS = (
    "RFC 5322 s3.6 allows Subject and From at most once.  For duplicates Dovecot uses the "
    "last Subject and merges both From lists into one; we use the first occurrence of "
    "every ENVELOPE field, as Dovecot itself does for Content-* fields (and as the "
    "header a user sees first), so a second From cannot be appended by a later hop."
)
_LEADING_CFWS = (
    "RFC 2045 s7 / RFC 5322 s3.6.4: msg-id = [CFWS] \"<\" id-left \"@\" id-right \">\" "
    "[CFWS]; the CFWS is not part of the id.  For a value starting on a folded line "
    "Dovecot keeps the folding space (\" <a@b>\"), which breaks cid: matching."
)
DELIBERATE_DIFFERENCES: dict[tuple[str, str], str] = {
    ("multipart-no-boundary-param", "BODY"): _NO_BOUNDARY,
    ("multipart-no-boundary-param", "BODYSTRUCTURE"): _NO_BOUNDARY,
    ("type-without-subtype", "BODY"): _NO_SUBTYPE,
    ("type-without-subtype", "BODYSTRUCTURE"): _NO_SUBTYPE,
    ("rfc822-base64", "BODY"): _DELIMITER_CRLF,
    ("rfc822-base64", "BODYSTRUCTURE"): _DELIMITER_CRLF,
    ("mixed-2231-segments", "BODY"): _EXT_VALUE,
    ("mixed-2231-segments", "BODYSTRUCTURE"): _EXT_VALUE,
    ("comment-only-to", "ENVELOPE"): _EMPTY_LIST_MEMBERS,
    ("dup-headers", "ENVELOPE"): _DUPLICATE_FIELDS,
    ("folded-content-id", "BODY"): _LEADING_CFWS,
    ("folded-content-id", "BODYSTRUCTURE"): _LEADING_CFWS,
}

# Synthetic probes for corners the fixture corpus does not cover; compared
# live only.  Each is (name, message).
PROBES: list[tuple[str, bytes]] = [
    ("empty-subject-and-date", b"Subject:\r\nDate:\r\nFrom: a@b.example\r\n\r\nx\r\n"),
    ("digest-default-rfc822", b"From: a@b.example\r\nMIME-Version: 1.0\r\n"
     b"Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nFrom: in@x.example\r\n"
     b"Subject: inner\r\n\r\nhello\r\n--d--\r\n"),
    ("languages-location-md5", b"From: a@b.example\r\nMIME-Version: 1.0\r\n"
     b"Content-Type: text/plain\r\nContent-Language: en, de-AT\r\nContent-Location: http://x/y\r\n"
     b"Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\r\nContent-ID: <id@x>\r\n\r\nbody\r\n"),
    ("route-and-comment-name", b"From: user@host.example (Real Name)\r\n"
     b"To: <@r1.example,@r2.example:u@h.example>\r\n\r\nx\r\n"),
    ("many-quotes-in-name", b'From: "a\\"b\\"c\\"d\\"e\\"f" <q@x.example>\r\nSubject: \t lead and trail \t \r\n\r\nx\r\n'),
    ("header-only-no-blank-line", b"From: a@b.example\r\nSubject: no body"),
    ("multipart-no-boundary-param", b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed\r\n\r\nx\r\n"),
    ("type-without-subtype", b"MIME-Version: 1.0\r\nContent-Type: text\r\n\r\nx\r\n"),
    ("ctype-without-mime-version", b"Content-Type: image/gif\r\n\r\nx\r\n"),
    ("uppercase-multipart", b"MIME-Version: 1.0\r\nContent-Type: MULTIPART/MIXED; BOUNDARY=\"X\"\r\n\r\n"
     b"--X\r\nContent-Type: TEXT/HTML\r\n\r\n<b>x</b>\r\n--X--\r\n"),
    ("rfc822-base64", b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
     b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nU3ViamVjdDogaGkNCg0KYm9keQ0K\r\n--b--\r\n"),
    ("encoded-word-param", b"MIME-Version: 1.0\r\nContent-Type: application/pdf; name=\"=?UTF-8?B?w6kucGRm?=\"\r\n\r\nx"),
    ("mixed-2231-segments", b"MIME-Version: 1.0\r\nContent-Type: application/x; a*0*=utf-8''%C3%A9; a*1=\"b c\"; z=1\r\n\r\nx"),
    ("comment-only-to", b"From: (nobody)\r\nTo: \"\" <>, (c) a@b (x)\r\nCc: ,,\r\n\r\nx"),
    ("dup-headers", b"Subject: one\r\nSubject: two\r\nFrom: a@b\r\nFrom: c@d\r\n\r\nx"),
    ("8bit-in-params", b"MIME-Version: 1.0\r\nContent-Type: text/plain; name=\"caf\xc3\xa9.txt\"; charset=utf-8\r\n"
     b"Content-Description: r\xc3\xa9sum\xc3\xa9\r\n\r\nx"),
    ("folded-content-id", b"MIME-Version: 1.0\r\nContent-Type: text/plain\r\nContent-ID:\r\n <a@b>\r\n"
     b"Content-Disposition: attachment;\r\n\tfilename=\"a b.txt\"\r\n\r\nx"),
    ("date-trailing-space", b"Date: Tue, 14 May 2024 09:30:00 +0800  \r\nMessage-ID:   <a@b>  \r\n\r\nx"),
    ("empty-part-header", b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n--b\r\n\r\n\r\n--b--\r\n"),
]


def ours(raw: bytes) -> dict[str, str]:
    a = analyse(normalise_crlf(raw))
    values = {"ENVELOPE": envelope(a), "BODY": body(a, False), "BODYSTRUCTURE": body(a, True)}
    return {k: pretty(parse(v), 1) for k, v in values.items()}


def render(items: dict[str, str]) -> str:
    return "".join(f"{name}\n{items[name]}\n" for name in ITEMS)


def read_dovecot_file(path: Path) -> dict[str, str]:
    items: dict[str, str] = {}
    name = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line in ITEMS:
            name = line
            items[name] = ""
        elif name is not None and not line.startswith("#"):
            items[name] += ("\n" if items[name] else "") + line
    return items


def number(path: Path) -> str:
    return path.name.split("-", 1)[0]


def compare(num: str, mine: dict[str, str], theirs: dict[str, str]) -> list[str]:
    problems = []
    for item in ITEMS:
        reason = DELIBERATE_DIFFERENCES.get((num, item))
        same = mine[item] == theirs[item]
        if reason is None and not same:
            problems.append(f"{num} {item} differs from Dovecot:\n--- dovecot\n{theirs[item]}\n+++ hivemail\n{mine[item]}")
        elif reason is not None and same:
            problems.append(f"{num} {item} listed as deliberate difference ({reason}) but now matches Dovecot")
    return problems


@pytest.mark.parametrize("path", FIXTURES, ids=number)
def test_matches_recorded_dovecot(path: Path) -> None:
    recorded = GOLDEN / f"{number(path)}.dovecot"
    assert recorded.exists(), f"{recorded.name} missing: run pytest -m dovecot --regen-golden"
    problems = compare(number(path), ours(path.read_bytes()), read_dovecot_file(recorded))
    assert not problems, "\n".join(problems)


def _require_dovecot() -> None:
    if find_dovecot() is None:
        skip_or_fail("dovecot is not installed (make test installs it)")


@pytest.mark.dovecot
def test_live_dovecot(tmp_path: Path, regen_golden: bool) -> None:
    _require_dovecot()
    messages = [p.read_bytes() for p in FIXTURES] + [m for _, m in PROBES]
    answers = fetch_structures(tmp_path, messages)
    problems: list[str] = []
    for path, answer in zip(FIXTURES, answers):
        theirs = {k: pretty(parse(v), 1) for k, v in answer.items()}
        if regen_golden:
            (GOLDEN / f"{number(path)}.dovecot").write_text(
                f"# Dovecot 2.3 answer for {path.name} (regenerate: pytest -m dovecot --regen-golden)\n"
                + render(theirs),
                encoding="utf-8",
            )
        problems += compare(number(path), ours(path.read_bytes()), theirs)
    for (name, msg), answer in zip(PROBES, answers[len(FIXTURES):]):
        theirs = {k: pretty(parse(v), 1) for k, v in answer.items()}
        problems += compare(name, ours(msg), theirs)
    assert not problems, "\n\n".join(problems)
