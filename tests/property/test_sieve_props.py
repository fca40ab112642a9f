"""Hypothesis: parse() raises nothing but SieveError on any input, and evaluate()
returns an Outcome that never loses mail, for any script parse() accepts.

Deterministic (derandomize) and bounded, so the whole file runs in seconds.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hivemail.sieve import (
    EXTENSIONS,
    Discard,
    Envelope,
    Ereject,
    FileInto,
    Keep,
    Limits,
    Outcome,
    Redirect,
    Reject,
    Script,
    SieveError,
    SieveMessage,
    evaluate,
    parse,
)
from tests.unit.sieve import test_sieve_extension_examples as ext_examples
from tests.unit.sieve import test_sieve_rfc5228_examples as core_examples

SETTINGS = settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

VALID_SCRIPTS = [
    core_examples.EXTENDED,
    core_examples.IF_ELSIF,
    core_examples.ENCODED,
    core_examples.BRACKET_COMMENT,
    ext_examples.FIXED,
    ext_examples.SET_TEXT,
    ext_examples.SIMPLE_VACATION,
    ext_examples.SUBADDRESS,
    ext_examples.FLAGS_EXTENDED.replace("        remove ", "        removeflag "),
    'require ["editheader", "reject", "date", "index", "relational", "body", "mailbox", "copy", "fileinto"];\n'
    'if date :index 1 :value "ge" "date" "year" "1990" { addheader "X-Old" "no"; }\n'
    'if body :content "text" :matches "*a?b*" { fileinto :copy :create "Box"; }\n'
    'deleteheader :matches "X-*" "*";\nif mailboxexists "x" { reject "r"; }\n',
]

WORDS = [
    "require", "if", "elsif", "else", "stop", "keep", "discard", "redirect", "fileinto", "setflag",
    "addflag", "removeflag", "hasflag", "set", "string", "vacation", "reject", "ereject", "addheader",
    "deleteheader", "address", "envelope", "header", "exists", "size", "true", "false", "not", "allof",
    "anyof", "body", "date", "currentdate", "mailboxexists", ":is", ":contains", ":matches", ":count",
    ":value", ":comparator", ":all", ":localpart", ":domain", ":user", ":detail", ":over", ":under",
    ":flags", ":copy", ":create", ":days", ":seconds", ":subject", ":from", ":addresses", ":mime",
    ":handle", ":raw", ":content", ":text", ":index", ":last", ":zone", ":originalzone", ":lower",
    ":upper", ":length", ":quotewildcard", "[", "]", "(", ")", ",", ";", "{", "}", "0", "1K", "99999999999",
    '"subject"', '"from"', '"to"', '"*"', '"${1}"', '"${a}"', '"a@b.example"', '"\\\\Seen"', '"ge"',
    '"i;ascii-numeric"', '"i;octet"', '"year"', '"+0100"', '"${hex:41}"', '"${unicode:110000}"',
    "text:\n..x\n.\n", "text:", "# c\n", "/* c */", "/*", '"', "\\", ":", "\0", "\u00e9", "$", "@",
] + [f'"{e}"' for e in EXTENSIONS]

tokens = st.lists(st.sampled_from(WORDS), max_size=60)
separators = st.sampled_from([" ", "\n", "\r\n", "\t", ""])


@st.composite
def token_soup(draw: st.DrawFn) -> str:
    parts = draw(tokens)
    return "".join(p + draw(separators) for p in parts)


@st.composite
def mutated_script(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(VALID_SCRIPTS))
    for _ in range(draw(st.integers(1, 4))):
        if not text:
            break
        at = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["delete", "insert", "duplicate"]))
        if kind == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 8)) :]
        elif kind == "insert":
            text = text[:at] + draw(st.sampled_from(WORDS)) + " " + text[at:]
        else:
            end = min(len(text), at + draw(st.integers(1, 40)))
            text = text[:end] + text[at:end] + text[end:]
    return text


HEADER_NAMES = ["From", "To", "Cc", "Subject", "Date", "Received", "List-Id", "X-A", "Auto-Submitted", "Sender"]
header_values = st.one_of(
    st.sampled_from(
        [
            "a@b.example", "Tim <tim@example.com>", "ken+foo@example.com, x@y.example", "undisclosed-recipients:;",
            "Tue, 1 Apr 1997 09:06:31 -0800", "Mon, 31 Dec 9999 23:59:59 -1200", "Thu, 1 Jan 0001 00:00:00 +1400",
            "=?utf-8?q?caf=C3=A9?=", "=?bogus?x?zz?=", "[acme] hi", "make money fast", "", "<>", "@@@",
        ]
    ),
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=40),
)


@st.composite
def messages(draw: st.DrawFn) -> SieveMessage:
    fields = draw(st.lists(st.tuples(st.sampled_from(HEADER_NAMES), header_values), max_size=8))
    body = draw(st.text(max_size=200))
    raw = "".join(f"{n}: {v}\r\n" for n, v in fields) + "\r\n" + body
    return SieveMessage.from_bytes(raw.encode("utf-8", "surrogatepass"))


envelopes = st.builds(
    Envelope,
    st.sampled_from(["", "friend@example.org", "MAILER-DAEMON@x.example", "a+b@c.example"]),
    st.sampled_from(["me@example.com", "ken+foo@example.com", "postmaster@example.com"]),
)


def parse_or_none(text: str) -> Script | None:
    try:
        return parse(text)
    except SieveError as err:
        assert err.line >= 1 and err.column >= 1, err
        return None


def check_outcome(outcome: Outcome) -> None:
    """The safety contract: always an Outcome, and the message goes somewhere
    unless the script explicitly discarded or rejected it."""
    assert isinstance(outcome, Outcome)
    assert not any(e.startswith("internal error") for e in outcome.errors), outcome.errors
    assert outcome.implicit_keep == (Keep((), True) in outcome.actions or any(
        isinstance(a, Keep) and a.implicit for a in outcome.actions
    ))
    if outcome.errors:
        assert outcome.actions == (Keep(implicit=True),)
    delivered = any(isinstance(a, (Keep, FileInto)) or (isinstance(a, Redirect)) for a in outcome.actions)
    dropped_on_purpose = any(isinstance(a, (Discard, Reject, Ereject)) for a in outcome.actions)
    assert delivered or dropped_on_purpose


@SETTINGS
@given(token_soup())
def test_token_soup_only_raises_sieve_error(text: str) -> None:
    parse_or_none(text)


@SETTINGS
@given(st.text(max_size=200))
def test_arbitrary_text_only_raises_sieve_error(text: str) -> None:
    parse_or_none(text)


@SETTINGS
@given(mutated_script(), messages(), envelopes)
def test_mutated_scripts_parse_or_fail_cleanly_and_evaluate_safely(text: str, message: SieveMessage, envelope: Envelope) -> None:
    script = parse_or_none(text)
    if script is not None:
        check_outcome(evaluate(script, message, envelope, limits=Limits(max_steps=5_000)))


@SETTINGS
@given(st.sampled_from(VALID_SCRIPTS), messages(), envelopes)
def test_valid_scripts_evaluate_deterministically_on_random_messages(text: str, message: SieveMessage, envelope: Envelope) -> None:
    script = parse(text)
    first = evaluate(script, message, envelope)
    check_outcome(first)
    assert evaluate(script, message, envelope) == first


def test_huge_expansion_hits_a_limit_not_memory() -> None:
    # 64 KiB of "${a}" references to a 4 KiB variable would be 64 MiB expanded.
    body = 'set "b" "' + "${a}" * 15000 + '";'
    script = parse('require "variables"; set "a" "' + "x" * 4096 + '";' + body)
    outcome = evaluate(script, SieveMessage(), Envelope("a@b.example", "me@example.com"))
    assert outcome.errors and outcome.actions == (Keep(implicit=True),)


def test_deep_nesting_is_refused_at_parse_time_not_by_recursion() -> None:
    for text in ("if " + "not " * 5000 + "true {}", "if true {" * 5000, "if " + "allof(" * 5000):
        assert parse_or_none(text) is None
