"""Response dataclass -> exact bytes, IMAP4rev1 and IMAP4rev2."""

from datetime import datetime, timezone

import pytest

from hivemail.imap_proto import (
    Capability,
    Condition,
    Continuation,
    Enabled,
    ESearch,
    Exists,
    Expunge,
    Fetch,
    Flags,
    FormatContext,
    Id,
    ListItem,
    Literal,
    Namespace,
    RawUntagged,
    Recent,
    ResponseCode,
    Search,
    Status,
    Tagged,
    Vanished,
    Version,
    format_bytes,
    parse_seqset,
)
from hivemail.imap_proto import responses as r

REV1 = FormatContext(Version.REV1)
REV1_UTF8 = FormatContext(Version.REV1, utf8=True)
REV2 = FormatContext(Version.REV2)

SAME = [
    (Tagged.ok("a1", "LOGIN completed"), b"a1 OK LOGIN completed\r\n"),
    (Tagged.no("a1", "no", r.TOOBIG), b"a1 NO [TOOBIG] no\r\n"),
    (Tagged.bad("a1"), b"a1 BAD Error in command\r\n"),
    (Tagged.ok("a", "x", ResponseCode.appenduid(38505, parse_seqset("3955"))), b"a OK [APPENDUID 38505 3955] x\r\n"),
    (Tagged.ok("a", "x", ResponseCode.copyuid(38505, parse_seqset("304,319:320"), parse_seqset("3956:3958"))),
     b"a OK [COPYUID 38505 304,319:320 3956:3958] x\r\n"),
    (Tagged.ok("a", "x", ResponseCode.capability(["IMAP4rev2", "LITERAL+"])), b"a OK [CAPABILITY IMAP4rev2 LITERAL+] x\r\n"),
    (Condition.ok("Limited", ResponseCode.permanentflags(["\\Deleted", "\\Seen", "\\*"])),
     b"* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited\r\n"),
    (Condition.ok("UIDs valid", ResponseCode.uidvalidity(3857529045)), b"* OK [UIDVALIDITY 3857529045] UIDs valid\r\n"),
    (Condition.ok("next", ResponseCode.uidnext(4392)), b"* OK [UIDNEXT 4392] next\r\n"),
    (Condition.ok("hm", ResponseCode.highestmodseq(715194045007)), b"* OK [HIGHESTMODSEQ 715194045007] hm\r\n"),
    (Tagged.ok("a", "SELECT completed", r.READ_WRITE), b"a OK [READ-WRITE] SELECT completed\r\n"),
    (Tagged.no("a", "x", r.NONEXISTENT), b"a NO [NONEXISTENT] x\r\n"),
    (Tagged.no("a", "x", r.ALREADYEXISTS), b"a NO [ALREADYEXISTS] x\r\n"),
    (Tagged.no("a", "x", r.TRYCREATE), b"a NO [TRYCREATE] x\r\n"),
    (Tagged.no("a", "x", r.OVERQUOTA), b"a NO [OVERQUOTA] x\r\n"),
    (Condition.ok("closed", r.CLOSED), b"* OK [CLOSED] closed\r\n"),
    (Condition.bye("shutting down", r.UNAVAILABLE), b"* BYE [UNAVAILABLE] shutting down\r\n"),
    (Tagged.no("a", "x", r.AUTHENTICATIONFAILED), b"a NO [AUTHENTICATIONFAILED] x\r\n"),
    (Tagged.no("a", "x", ResponseCode.badcharset(["UTF-8"])), b"a NO [BADCHARSET (UTF-8)] x\r\n"),
    (Tagged.ok("a", "x", "READ-ONLY"), b"a OK [READ-ONLY] x\r\n"),
    (Tagged.ok("a", "evil\r\n* injected"), b"a OK evil  * injected\r\n"),
    (Continuation(), b"+ Ready\r\n"),
    (Continuation("go ahead"), b"+ go ahead\r\n"),
    (Continuation(data=b""), b"+ \r\n"),
    (Continuation(data=b"Username:"), b"+ VXNlcm5hbWU6\r\n"),
    (Exists(23), b"* 23 EXISTS\r\n"),
    (Expunge(3), b"* 3 EXPUNGE\r\n"),
    (Flags(("\\Answered", "\\Flagged", "$Junk")), b"* FLAGS (\\Answered \\Flagged $Junk)\r\n"),
    (Fetch(12, (("FLAGS", ("\\Seen",)), ("UID", 4827313), ("RFC822.SIZE", 44827))),
     b"* 12 FETCH (FLAGS (\\Seen) UID 4827313 RFC822.SIZE 44827)\r\n"),
    (Fetch(1, (("INTERNALDATE", datetime(1996, 7, 17, 9, 44, 25, tzinfo=timezone.utc)), ("ENVELOPE", b'("x" NIL)'))),
     b'* 1 FETCH (INTERNALDATE "17-Jul-1996 09:44:25 +0000" ENVELOPE ("x" NIL))\r\n'),
    (Fetch(1, (("BODY[]", Literal(b"Hi\r\n")), ("BODY[1]", None))), b"* 1 FETCH (BODY[] {4}\r\nHi\r\n BODY[1] NIL)\r\n"),
    (Fetch(1, (("BINARY[]", Literal(b"\x00x", binary=True)),)), b"* 1 FETCH (BINARY[] ~{2}\r\n\x00x)\r\n"),
    (Fetch(1, (("BINARY.SIZE[1]", 77), ("MODSEQ", (12,)))), b"* 1 FETCH (BINARY.SIZE[1] 77 MODSEQ (12))\r\n"),
    (Fetch(1, (("BODY[HEADER.FIELDS (Subject)]", 'a "q"'),)), b'* 1 FETCH (BODY[HEADER.FIELDS (Subject)] "a \\"q\\"")\r\n'),
    (ListItem("INBOX", "/", ("\\HasNoChildren",)), b'* LIST (\\HasNoChildren) "/" INBOX\r\n'),
    (ListItem("foo bar", None, ()), b'* LIST () NIL "foo bar"\r\n'),
    (ListItem("a\\b", ".", ("\\Noselect",), kind="LSUB"), b'* LSUB (\\Noselect) "." "a\\\\b"\r\n'),
    (ListItem("Foo", "/", ("\\Subscribed",), child_info=("SUBSCRIBED",)),
     b'* LIST (\\Subscribed) "/" "Foo" ("CHILDINFO" ("SUBSCRIBED"))\r\n'),
    (ListItem("New", "/", (), old_name="Old"), b'* LIST () "/" "New" ("OLDNAME" ("Old"))\r\n'),
    (Status("blurdybloop", (("MESSAGES", 231), ("UIDNEXT", 44292))), b'* STATUS "blurdybloop" (MESSAGES 231 UIDNEXT 44292)\r\n'),
    (ESearch("A282", min=2, count=3), b'* ESEARCH (TAG "A282") MIN 2 COUNT 3\r\n'),
    (ESearch("A", uid=True, all=parse_seqset("1:3,7"), modseq=9), b'* ESEARCH (TAG "A") UID ALL 1:3,7 MODSEQ 9\r\n'),
    (ESearch("A"), b'* ESEARCH (TAG "A")\r\n'),
    (Enabled(("CONDSTORE",)), b"* ENABLED CONDSTORE\r\n"),
    (Enabled(()), b"* ENABLED\r\n"),
    (Id(None), b"* ID NIL\r\n"),
    (Id((("name", "hivemail"), ("support-url", None))), b'* ID ("name" "hivemail" "support-url" NIL)\r\n'),
    (Namespace(), b'* NAMESPACE (("" "/")) NIL NIL\r\n'),
    (Namespace((("", "."),), (("~", "/"),), (("#shared/", "/"), ("#news.", "."))),
     b'* NAMESPACE (("" ".")) (("~" "/")) (("#shared/" "/")("#news." "."))\r\n'),
    (Capability(("IMAP4rev1", "IMAP4rev2", "LITERAL+", "AUTH=PLAIN")), b"* CAPABILITY IMAP4rev1 IMAP4rev2 LITERAL+ AUTH=PLAIN\r\n"),
    (Vanished(parse_seqset("41,43:116"), earlier=True), b"* VANISHED (EARLIER) 41,43:116\r\n"),
    (Vanished(parse_seqset("405")), b"* VANISHED 405\r\n"),
    (RawUntagged(b"XYZZY 1"), b"* XYZZY 1\r\n"),
    (Condition.preauth(""), b"* PREAUTH Logged in\r\n"),
]


@pytest.mark.parametrize("ctx", [REV1, REV1_UTF8, REV2], ids=["rev1", "rev1-utf8", "rev2"])
@pytest.mark.parametrize("resp,wire", SAME)
def test_same_in_every_version(resp, wire, ctx):
    assert format_bytes(resp, ctx) == wire


DIFFERENT = [
    (Recent(5), b"* 5 RECENT\r\n", b""),
    (Search((2, 3, 6)), b"* SEARCH 2 3 6\r\n", b"* ESEARCH ALL 2:3,6\r\n"),
    (Search((2, 3, 6), tag="A", uid=True), b"* SEARCH 2 3 6\r\n", b'* ESEARCH (TAG "A") UID ALL 2:3,6\r\n'),
    (Search((), tag="A"), b"* SEARCH\r\n", b'* ESEARCH (TAG "A")\r\n'),
    (Search((2, 4), modseq=917162500), b"* SEARCH 2 4 (MODSEQ 917162500)\r\n", b"* ESEARCH ALL 2,4 MODSEQ 917162500\r\n"),
    (ListItem("Entwürfe", "/", ()), b'* LIST () "/" "Entw&APw-rfe"\r\n', '* LIST () "/" "Entwürfe"\r\n'.encode()),
    (Status("台北", (("MESSAGES", 1),)), b'* STATUS "&U,BTFw-" (MESSAGES 1)\r\n', '* STATUS "台北" (MESSAGES 1)\r\n'.encode()),
    (Namespace((("Ères/", "/"),)), b'* NAMESPACE (("&AMg-res/" "/")) NIL NIL\r\n', '* NAMESPACE (("Ères/" "/")) NIL NIL\r\n'.encode()),
    (Fetch(1, (("BODY[HEADER.FIELDS (Subject)]", "été"),)),
     b"* 1 FETCH (BODY[HEADER.FIELDS (Subject)] {5}\r\n\xc3\xa9t\xc3\xa9)\r\n",
     '* 1 FETCH (BODY[HEADER.FIELDS (Subject)] "été")\r\n'.encode()),
    (Tagged.no("a", "Mailbox «x» missing"), b"a NO Mailbox ?x? missing\r\n", "a NO Mailbox «x» missing\r\n".encode()),
]


@pytest.mark.parametrize("resp,rev1,rev2", DIFFERENT)
def test_version_dependent(resp, rev1, rev2):
    assert format_bytes(resp, REV1) == rev1
    assert format_bytes(resp, REV2) == rev2


def test_utf8_accept_in_rev1_uses_utf8_mailbox_names_but_keeps_recent():
    assert format_bytes(ListItem("Entwürfe"), REV1_UTF8) == '* LIST () "/" "Entwürfe"\r\n'.encode()
    assert format_bytes(Recent(1), REV1_UTF8) == b"* 1 RECENT\r\n"


def test_strings_with_line_breaks_become_literals():
    assert format_bytes(Fetch(1, (("X", "a\r\nb"),)), REV2) == b"* 1 FETCH (X {4}\r\na\r\nb)\r\n"


def test_raw_untagged_refuses_line_breaks():
    with pytest.raises(ValueError):
        format_bytes(RawUntagged(b"x\r\n* y"))
