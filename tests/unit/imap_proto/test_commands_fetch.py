import pytest

from hivemail.imap_proto import FetchAttribute as A
from hivemail.imap_proto import FetchRequest, Section, State, parse_seqset
from tests.unit.imap_proto._helpers import assert_bad, parse_one

SEL = State.SELECTED


def f(seqs: str, *attrs: A, **kw) -> FetchRequest:
    return FetchRequest(parse_seqset(seqs), tuple(attrs), **kw)


GOOD = [
    (b"a FETCH 1 FLAGS", f("1", A("FLAGS"))),
    (b"a fetch 1:* (flags uid)", f("1:*", A("FLAGS"), A("UID"))),
    (b"a FETCH 2:4 ALL", f("2:4", A("FLAGS"), A("INTERNALDATE"), A("RFC822.SIZE"), A("ENVELOPE"))),
    (b"a FETCH 1 FAST", f("1", A("FLAGS"), A("INTERNALDATE"), A("RFC822.SIZE"))),
    (b"a FETCH 1 full", f("1", A("FLAGS"), A("INTERNALDATE"), A("RFC822.SIZE"), A("ENVELOPE"), A("BODY"))),
    (
        b"a FETCH 1 (ENVELOPE BODYSTRUCTURE BODY RFC822 RFC822.HEADER RFC822.TEXT RFC822.SIZE INTERNALDATE MODSEQ)",
        f("1", A("ENVELOPE"), A("BODYSTRUCTURE"), A("BODY"), A("RFC822"), A("RFC822.HEADER"),
          A("RFC822.TEXT"), A("RFC822.SIZE"), A("INTERNALDATE"), A("MODSEQ")),
    ),
    (b"a FETCH 1 BODY[]", f("1", A("BODY", Section()))),
    (b"a FETCH 1 BODY.PEEK[]<0.100>", f("1", A("BODY.PEEK", Section(), (0, 100)))),
    (b"a FETCH 1 body[header]", f("1", A("BODY", Section((), "HEADER")))),
    (b"a FETCH 1 BODY[TEXT]", f("1", A("BODY", Section((), "TEXT")))),
    (b"a FETCH 1 BODY[1]", f("1", A("BODY", Section((1,))))),
    (b"a FETCH 1 BODY[1.2.3]", f("1", A("BODY", Section((1, 2, 3))))),
    (b"a FETCH 1 BODY[4.2.HEADER]", f("1", A("BODY", Section((4, 2), "HEADER")))),
    (b"a FETCH 1 BODY[3.MIME]", f("1", A("BODY", Section((3,), "MIME")))),
    (b"a FETCH 1 BODY[3.TEXT]<10.20>", f("1", A("BODY", Section((3,), "TEXT"), (10, 20)))),
    (
        b"a FETCH 1 (FLAGS BODY.PEEK[HEADER.FIELDS (DATE FROM)])",
        f("1", A("FLAGS"), A("BODY.PEEK", Section((), "HEADER.FIELDS", ("DATE", "FROM")))),
    ),
    (
        b'a FETCH 1 BODY[1.HEADER.FIELDS.NOT ("Subject" x-y)]',
        f("1", A("BODY", Section((1,), "HEADER.FIELDS.NOT", ("Subject", "x-y")))),
    ),
    (b"a FETCH 1 BINARY[]", f("1", A("BINARY", Section()))),
    (b"a FETCH 1 BINARY.PEEK[1.2]<0.1024>", f("1", A("BINARY.PEEK", Section((1, 2)), (0, 1024)))),
    (b"a FETCH 1 BINARY.SIZE[1]", f("1", A("BINARY.SIZE", Section((1,))))),
    (b"a FETCH $ FLAGS", FetchRequest(parse_seqset("$"), (A("FLAGS"),))),
    (b"a UID FETCH 1:* FLAGS", f("1:*", A("UID"), A("FLAGS"), uid=True)),
    (b"a UID FETCH 5 (UID FLAGS)", f("5", A("UID"), A("FLAGS"), uid=True)),
    (b"a FETCH 1 (FLAGS) (CHANGEDSINCE 12345)", f("1", A("FLAGS"), changed_since=12345)),
    (
        b"a UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)",
        f("300:500", A("UID"), A("FLAGS"), uid=True, changed_since=12345, vanished=True),
    ),
    (b"a FETCH 1 (FLAGS FLAGS)", f("1", A("FLAGS"))),
]


@pytest.mark.parametrize("line,expected", GOOD)
def test_good(line, expected):
    assert parse_one(line, state=SEL) == expected


BAD = [
    (b"a FETCH", "missing a sequence set"),
    (b"a FETCH 1", "missing a fetch attribute"),
    (b"a FETCH 1 ()", "empty fetch attribute list"),
    (b"a FETCH 1 BOGUS", "unknown fetch attribute BOGUS"),
    (b"a FETCH 1 (FLAGS BOGUS)", "unknown fetch attribute"),
    (b"a FETCH 1 BODY[BOGUS]", "invalid section"),
    (b"a FETCH 1 BODY[0]", "invalid section"),
    (b"a FETCH 1 BODY[1.]", "invalid section"),
    (b"a FETCH 1 BODY[MIME]", "invalid section"),
    (b"a FETCH 1 BODY[HEADER.FIELDS]", "needs a list"),
    (b"a FETCH 1 BODY[HEADER.FIELDS ()]", "empty header list"),
    (b"a FETCH 1 BODY[HEADER.FIELDS (a:b)]", "invalid header field name"),
    (b"a FETCH 1 BODY[]<0.0>", "invalid partial"),
    (b"a FETCH 1 BINARY[HEADER]", "only part numbers"),
    (b"a FETCH 1 BINARY.SIZE[1]<0.10>", "does not take a partial"),
    (b"a FETCH 1 FLAGS (CHANGEDSINCE)", "missing a mod-sequence"),
    (b"a FETCH 1 FLAGS (CHANGEDSINCE 1 VANISHED)", "VANISHED requires UID FETCH"),
    (b"a FETCH 1 FLAGS (BOGUS)", "unknown or repeated fetch modifier"),
    (b"a FETCH 1 FLAGS BOGUS", "expected fetch modifiers"),
    (b"a FETCH * (", "missing ')'"),
    (b"a FETCH 1:2:3 FLAGS", "sequence set"),
]


@pytest.mark.parametrize("line,fragment", BAD)
def test_bad(line, fragment):
    assert_bad(line, fragment, state=SEL)


@pytest.mark.parametrize(
    "attr,name,seen",
    [
        (A("BODY.PEEK", Section((1,), "MIME"), (0, 5)), "BODY[1.MIME]<0>", False),
        (A("BODY", Section((), "HEADER.FIELDS", ("To", "X Y"))), 'BODY[HEADER.FIELDS (To "X Y")]', True),
        (A("BINARY.PEEK", Section((1,))), "BINARY[1]", False),
        (A("RFC822"), "RFC822", True),
        (A("RFC822.HEADER"), "RFC822.HEADER", False),
        (A("FLAGS"), "FLAGS", False),
    ],
)
def test_response_names_and_seen(attr, name, seen):
    assert attr.response_name() == name
    assert attr.sets_seen is seen
