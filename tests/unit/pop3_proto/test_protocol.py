"""pop3_proto.protocol: parsing tables, formatting, dot-stuffing, TOP, CAPA."""

import pytest

from hivemail.pop3_proto.protocol import (
    COMMANDS,
    AuthCommand,
    CapaCommand,
    CommandError,
    Continuation,
    DeleCommand,
    DotStuffer,
    Err,
    ListCommand,
    MultiLine,
    NoopCommand,
    Ok,
    PassCommand,
    QuitCommand,
    RetrCommand,
    RsetCommand,
    State,
    StatCommand,
    StlsCommand,
    TopCommand,
    UidlCommand,
    UserCommand,
    Utf8Command,
    capa_response,
    capabilities,
    dot_stuff,
    dot_unstuff,
    format_continuation,
    format_status,
    parse_line,
    stuffed_size,
    top_of_message,
)

# -- parsing: good lines ------------------------------------------------------

GOOD = [
    (b"USER bob\r\n", UserCommand("bob")),
    (b"user bob@example.org\r\n", UserCommand("bob@example.org")),
    (b"USER j\xc3\xb6rg\r\n", UserCommand("jörg")),
    (b"PASS secret\r\n", PassCommand("secret")),
    (b"PASS  two  spaces \r\n", PassCommand(" two  spaces ")),
    (b"PASS p\xc3\xa4ss\r\n", PassCommand("päss")),
    (b"STAT\r\n", StatCommand()),
    (b"stat\n", StatCommand()),  # bare LF tolerated
    (b"StAt   \r\n", StatCommand()),  # trailing spaces tolerated
    (b"LIST\r\n", ListCommand()),
    (b"LIST 1\r\n", ListCommand(1)),
    (b"LIST  007 \r\n", ListCommand(7)),
    (b"RETR 2147483647\r\n", RetrCommand(2**31 - 1)),
    (b"DELE 3\r\n", DeleCommand(3)),
    (b"NOOP\r\n", NoopCommand()),
    (b"RSET\r\n", RsetCommand()),
    (b"QUIT\r\n", QuitCommand()),
    (b"TOP 1 0\r\n", TopCommand(1, 0)),
    (b"top 12 100\r\n", TopCommand(12, 100)),
    (b"UIDL\r\n", UidlCommand()),
    (b"UIDL 5\r\n", UidlCommand(5)),
    (b"CAPA\r\n", CapaCommand()),
    (b"AUTH\r\n", AuthCommand()),
    (b"AUTH plain\r\n", AuthCommand("PLAIN")),
    (b"AUTH SCRAM-SHA-256\r\n", AuthCommand("SCRAM-SHA-256")),
    (b"AUTH PLAIN =\r\n", AuthCommand("PLAIN", b"")),
    (b"AUTH PLAIN AGJvYgBzZWNyZXQ=\r\n", AuthCommand("PLAIN", b"\x00bob\x00secret")),
    (b"STLS\r\n", StlsCommand()),
    (b"utf8\r\n", Utf8Command()),
    (b"LIST 1", ListCommand(1)),  # line end already stripped
]


@pytest.mark.parametrize("line,expected", GOOD, ids=[repr(g[0]) for g in GOOD])
def test_parse_good_lines(line, expected):
    assert parse_line(line) == expected


# -- parsing: every bad-argument case -> exact -ERR text ------------------------

BAD = [
    (b"\r\n", "Empty command"),
    (b"   \r\n", "Empty command"),
    (b" STAT\r\n", "Invalid command syntax"),
    (b"FOO\r\n", "Unknown command: FOO"),
    (b"APOP bob 0123456789abcdef\r\n", "Unknown command: APOP"),
    (b"STATUS\r\n", "Unknown command: STATUS"),
    (b"\xff\xfe\r\n", "Unknown command"),
    (b"STAT\x00\r\n", "Invalid characters in command"),
    (b"STAT\rX\r\n", "Invalid characters in command"),
    (b"STAT\tx\r\n", "Invalid characters in command"),
    (b"STAT 1\r\n", "STAT takes no arguments"),
    (b"NOOP x\r\n", "NOOP takes no arguments"),
    (b"RSET x\r\n", "RSET takes no arguments"),
    (b"QUIT now\r\n", "QUIT takes no arguments"),
    (b"CAPA x\r\n", "CAPA takes no arguments"),
    (b"STLS x\r\n", "STLS takes no arguments"),
    (b"UTF8 x\r\n", "UTF8 takes no arguments"),
    (b"USER\r\n", "USER needs a user name"),
    (b"USER a b\r\n", "USER takes one argument"),
    (b"USER \xff\r\n", "Invalid user name: not valid UTF-8"),
    (b"PASS\r\n", "PASS needs a password"),
    (b"PASS \r\n", "PASS needs a password"),
    (b"PASS \xc3\r\n", "Invalid password: not valid UTF-8"),
    (b"RETR\r\n", "RETR needs a message number"),
    (b"DELE\r\n", "DELE needs a message number"),
    (b"RETR 1 2\r\n", "RETR takes one argument"),
    (b"DELE 1 2\r\n", "DELE takes one argument"),
    (b"RETR x\r\n", "Invalid message number: must be a positive number"),
    (b"RETR -1\r\n", "Invalid message number: must be a positive number"),
    (b"RETR +1\r\n", "Invalid message number: must be a positive number"),
    (b"RETR 0\r\n", "Invalid message number: must be a positive number"),
    (b"RETR 000\r\n", "Invalid message number: must be a positive number"),
    (b"RETR 1.5\r\n", "Invalid message number: must be a positive number"),
    (b"RETR \xd9\xa3\r\n", "Invalid message number: must be a positive number"),  # Arabic-Indic 3
    (b"RETR 2147483648\r\n", "Invalid message number: number too large"),
    (b"RETR 99999999999999999999\r\n", "Invalid message number: number too large"),
    (b"RETR " + b"9" * 240 + b"\r\n", "Invalid message number: number too large"),
    (b"LIST 0\r\n", "Invalid message number: must be a positive number"),
    (b"LIST 1 2\r\n", "LIST takes at most one argument"),
    (b"LIST 4294967296\r\n", "Invalid message number: number too large"),
    (b"UIDL -3\r\n", "Invalid message number: must be a positive number"),
    (b"UIDL 1 2\r\n", "UIDL takes at most one argument"),
    (b"TOP\r\n", "TOP needs a message number and a line count"),
    (b"TOP 1\r\n", "TOP needs a message number and a line count"),
    (b"TOP 1 2 3\r\n", "TOP takes two arguments"),
    (b"TOP 0 1\r\n", "Invalid message number: must be a positive number"),
    (b"TOP 1 -1\r\n", "Invalid line count: must be a non-negative number"),
    (b"TOP 1 x\r\n", "Invalid line count: must be a non-negative number"),
    (b"TOP 1 2147483648\r\n", "Invalid line count: number too large"),
    (b"AUTH PLAIN a b\r\n", "AUTH takes at most two arguments"),
    (b"AUTH PL@IN\r\n", "Invalid SASL mechanism name"),
    (b"AUTH ABCDEFGHIJKLMNOPQRSTU\r\n", "Invalid SASL mechanism name"),  # 21 chars
    (b"AUTH PLAIN AGJvYgBzZWNyZXQ\r\n", "Invalid base64 in initial response"),  # no padding
    (b"AUTH PLAIN =AAA\r\n", "Invalid base64 in initial response"),
    (b"AUTH PLAIN AAA=BBBB\r\n", "Invalid base64 in initial response"),
    (b"AUTH PLAIN AA*A\r\n", "Invalid base64 in initial response"),
]


@pytest.mark.parametrize("line,text", BAD, ids=[repr(b[0][:30]) for b in BAD])
def test_parse_bad_lines_give_err_text(line, text):
    with pytest.raises(CommandError) as info:
        parse_line(line)
    assert info.value.text == text


def test_every_command_has_a_spec_and_states():
    assert set(COMMANDS) == {
        "USER", "PASS", "AUTH", "STLS", "UTF8", "CAPA", "QUIT",
        "STAT", "LIST", "RETR", "DELE", "NOOP", "RSET", "TOP", "UIDL",
    }
    for spec in COMMANDS.values():
        assert spec.states <= {State.AUTHORIZATION, State.TRANSACTION}


def test_secrets_are_not_in_repr():
    assert "secret" not in repr(parse_line(b"PASS secret\r\n"))
    assert "AGJv" not in repr(parse_line(b"AUTH PLAIN AGJvYgBzZWNyZXQ=\r\n"))
    assert "bob" not in repr(parse_line(b"AUTH PLAIN AGJvYgBzZWNyZXQ=\r\n"))


# -- response formatting ---------------------------------------------------------


@pytest.mark.parametrize(
    "ok,text,code,wire",
    [
        (True, "", None, b"+OK\r\n"),
        (True, "2 messages (320 octets)", None, b"+OK 2 messages (320 octets)\r\n"),
        (False, "no such message", None, b"-ERR no such message\r\n"),
        (False, "Do you have another POP session running?", "IN-USE",
         b"-ERR [IN-USE] Do you have another POP session running?\r\n"),
        (False, "Authentication failed", "AUTH", b"-ERR [AUTH] Authentication failed\r\n"),
        (False, "Try again later", "SYS/TEMP", b"-ERR [SYS/TEMP] Try again later\r\n"),
        (False, "Mailbox broken", "SYS/PERM", b"-ERR [SYS/PERM] Mailbox broken\r\n"),
        (False, "wait", "LOGIN-DELAY", b"-ERR [LOGIN-DELAY] wait\r\n"),
        (False, "enable UTF8 first", "UTF8", b"-ERR [UTF8] enable UTF8 first\r\n"),
        (False, "", "SYS/TEMP", b"-ERR [SYS/TEMP]\r\n"),
        (True, "grüße", None, "+OK grüße\r\n".encode()),
    ],
)
def test_format_status(ok, text, code, wire):
    assert format_status(ok, text, code) == wire


@pytest.mark.parametrize(
    "text,code",
    [
        ("a\r\nb", None),  # response injection
        ("a\nb", None),
        ("nul\x00", None),
        ("[looks like a code", None),
        ("x", "IN USE"),
        ("x", "A]B"),
        ("x", "SYS//TEMP"),
        ("x", ""),
    ],
)
def test_bad_response_text_or_code_is_refused(text, code):
    with pytest.raises(ValueError):
        Err(text, code)
    with pytest.raises(ValueError):
        format_status(True, text, code)


def test_response_line_limit_512():
    format_status(True, "x" * (512 - 6))
    with pytest.raises(ValueError):
        format_status(True, "x" * (512 - 5))


def test_continuation_format():
    assert format_continuation(b"") == b"+ \r\n"
    assert format_continuation(b"hi") == b"+ aGk=\r\n"
    assert Continuation().data == b""


# -- dot-stuffing --------------------------------------------------------------------

STUFF = [
    (b"", b".\r\n"),
    (b"a\r\n", b"a\r\n.\r\n"),
    (b".\r\n", b"..\r\n.\r\n"),  # a lone "." line
    (b"..\r\n", b"...\r\n.\r\n"),
    (b".a\r\n", b"..a\r\n.\r\n"),
    (b"a\r\n.\r\nb\r\n", b"a\r\n..\r\nb\r\n.\r\n"),
    (b"a\r\n.\r\n.\r\n", b"a\r\n..\r\n..\r\n.\r\n"),
    (b"a.b\r\n", b"a.b\r\n.\r\n"),  # dots inside a line untouched
    (b"a", b"a\r\n.\r\n"),  # no final CRLF -> added before "."
    (b"a\r\n.", b"a\r\n..\r\n.\r\n"),
    (b".", b"..\r\n.\r\n"),
    (b"a\r", b"a\r\r\n.\r\n"),
    (b"a\n.b\n", b"a\n..b\n\r\n.\r\n"),  # bare LF: stuffed too, CRLF added
    (b"\r\n", b"\r\n.\r\n"),
]


@pytest.mark.parametrize("data,wire", STUFF, ids=[repr(s[0]) for s in STUFF])
def test_dot_stuff_vectors(data, wire):
    assert dot_stuff(data, final=True) == wire
    assert stuffed_size(data) == len(wire) - 3
    assert dot_unstuff(wire) == (data if data.endswith(b"\r\n") or not data else data + b"\r\n")


def test_dot_stuff_not_final_adds_no_terminator():
    assert dot_stuff(b".a\r\n.b", final=False) == b"..a\r\n..b"


@pytest.mark.parametrize(
    "chunks,wire",
    [
        ([b"a\r\n", b".b\r\n"], b"a\r\n..b\r\n.\r\n"),  # CRLF | "."
        ([b"a\r", b"\n.b\r\n"], b"a\r\n..b\r\n.\r\n"),  # CR | LF "."
        ([b"a\r\n", b".", b"\r\n"], b"a\r\n..\r\n.\r\n"),
        ([b"ab", b".c"], b"ab.c\r\n.\r\n"),  # mid-line "." is not stuffed
        ([b"a\r", b"\n"], b"a\r\n.\r\n"),  # CRLF split at the end: no extra CRLF
        ([b"a\r\n", b""], b"a\r\n.\r\n"),
        ([b"", b".", b"", b"x"], b"..x\r\n.\r\n"),
        ([b"a", b"\r", b"\n", b".", b"\r", b"\n"], b"a\r\n..\r\n.\r\n"),
    ],
)
def test_dot_stuffer_chunk_boundaries(chunks, wire):
    stuffer = DotStuffer()
    out = b"".join(stuffer.feed(c) for c in chunks) + stuffer.end()
    assert out == wire == dot_stuff(b"".join(chunks), final=True)


def test_dot_stuff_tail_argument_is_the_pure_form():
    first = b"a\r\n"
    second = b".b"
    out = dot_stuff(first, final=False) + dot_stuff(second, final=True, tail=first[-2:])
    assert out == b"a\r\n..b\r\n.\r\n"


def test_dot_unstuff_requires_terminator():
    with pytest.raises(ValueError):
        dot_unstuff(b"a\r\n")


# -- TOP -----------------------------------------------------------------------------

MSG = b"Subject: x\r\nFrom: a@b\r\n\r\nline1\r\n.line2\r\nline3\r\n"


@pytest.mark.parametrize(
    "message,lines,expected",
    [
        (MSG, 0, b"Subject: x\r\nFrom: a@b\r\n\r\n"),
        (MSG, 1, b"Subject: x\r\nFrom: a@b\r\n\r\nline1\r\n"),
        (MSG, 2, b"Subject: x\r\nFrom: a@b\r\n\r\nline1\r\n.line2\r\n"),
        (MSG, 3, MSG),
        (MSG, 2**31 - 1, MSG),
        (b"Subject: x\r\n", 5, b"Subject: x\r\n"),  # no body at all
        (b"\r\nbody1\r\nbody2", 1, b"\r\nbody1\r\n"),  # no header fields
        (b"\r\nbody1\r\nbody2", 2, b"\r\nbody1\r\nbody2"),  # last line without CRLF
        (b"A: b\n\nx\ny\n", 1, b"A: b\n\nx\n"),  # bare LF message
        (b"A: b\r\n\r\n", 3, b"A: b\r\n\r\n"),
        (b"", 0, b""),
    ],
)
def test_top_of_message(message, lines, expected):
    assert top_of_message(message, lines) == expected


def test_top_of_message_with_stored_body_offset():
    offset = MSG.index(b"\r\n\r\n") + 4
    assert top_of_message(MSG, 1, body_offset=offset) == top_of_message(MSG, 1)


def test_top_negative_lines_is_a_caller_bug():
    with pytest.raises(ValueError):
        top_of_message(MSG, -1)


# -- CAPA ---------------------------------------------------------------------------


def test_capa_defaults_authorization_plaintext_allowed():
    assert capabilities() == [
        "TOP", "UIDL", "USER", "SASL PLAIN SCRAM-SHA-256", "RESP-CODES",
        "AUTH-RESP-CODE", "PIPELINING", "IMPLEMENTATION hivemail", "STLS", "UTF8",
    ]


def test_capa_without_plaintext_hides_user_and_plain():
    caps = capabilities(plaintext_allowed=False)
    assert "USER" not in caps
    assert "SASL SCRAM-SHA-256" in caps


def test_capa_without_any_mechanism_has_no_sasl_line():
    caps = capabilities(plaintext_allowed=False, sasl_mechanisms=["PLAIN"])
    assert not any(c.startswith("SASL") for c in caps)


def test_capa_stls_only_before_tls_and_in_authorization():
    assert "STLS" not in capabilities(tls_active=True)
    assert "STLS" not in capabilities(state=State.TRANSACTION)
    assert "STLS" not in capabilities(stls_available=False)


def test_capa_expire_login_delay_user_token_only_in_authorization():
    auth = capabilities(expire=5, expire_per_user=True, login_delay=900, login_delay_per_user=True)
    assert "EXPIRE 5 USER" in auth and "LOGIN-DELAY 900 USER" in auth
    trans = capabilities(state=State.TRANSACTION, expire=30, expire_per_user=True, login_delay=900)
    assert "EXPIRE 30" in trans and "LOGIN-DELAY 900" in trans
    assert "EXPIRE NEVER" in capabilities(expire="NEVER")
    assert "EXPIRE 0" in capabilities(expire=0)
    with pytest.raises(ValueError):
        capabilities(expire=-1)
    with pytest.raises(ValueError):
        capabilities(expire="SOMETIMES")


def test_capa_utf8_user_and_implementation_optional():
    caps = capabilities(utf8_user=True, implementation=None)
    assert "UTF8 USER" in caps
    assert not any(c.startswith("IMPLEMENTATION") for c in caps)
    assert "UTF8" not in capabilities(utf8=False)


def test_capa_response_is_a_multiline():
    resp = capa_response(["TOP", "UIDL"])
    assert resp == MultiLine("Capability list follows", b"TOP\r\nUIDL\r\n")


@pytest.mark.parametrize(
    "before,skipped,after",
    [
        (b"", b"a\r\n", b""),        # all sent past the stuffer, ends in CRLF
        (b"", b"a", b""),            # ... without CRLF: the end adds one
        (b"a\r", b"\n", b".b"),      # CR fed, LF skipped: the next "." is stuffed
        (b"a\r\n", b"", b".x\r\n"),  # nothing skipped changes nothing
        (b"x\r\n", b"b", b"\r\n.y"),
    ],
)
def test_dot_stuffer_skip_keeps_line_state(before, skipped, after):
    # The octets skipped go out unchanged (the session sent them with
    # sendfile); the wire must equal stuffing the whole message at once.
    stuffer = DotStuffer()
    out = stuffer.feed(before) + skipped
    stuffer.skip(skipped[-2:])
    out += stuffer.feed(after) + stuffer.end()
    whole = before + skipped + after
    assert out == dot_stuff(whole, final=True)
