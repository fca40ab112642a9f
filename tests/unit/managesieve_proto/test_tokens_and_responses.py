"""Tokens, script names and response formatting: tables of input -> exact output."""

import pytest

from hivemail.managesieve_proto import (
    QUOTA_MAXSCRIPTS,
    Atom,
    Bye,
    Capabilities,
    LiteralMarker,
    No,
    Ok,
    ParseError,
    ResponseCode,
    SaslChallenge,
    ScriptContent,
    ScriptList,
    String,
    capabilities,
    check_script_name,
    decode_base64,
    format_response,
    format_string,
    lex_segment,
)


@pytest.mark.parametrize(
    ("segment", "continuation", "tokens", "marker"),
    [
        (b"NOOP", False, [Atom("NOOP")], None),
        (b"noop ", False, [Atom("noop")], None),
        (b'NOOP "a b"', False, [Atom("NOOP"), String(b"a b")], None),
        (b'NOOP "a\\"b\\\\c"', False, [Atom("NOOP"), String(b'a"b\\c')], None),
        (b'NOOP ""', False, [Atom("NOOP"), String(b"")], None),
        ('NOOP "ünï"'.encode(), False, [Atom("NOOP"), String("ünï".encode())], None),
        (b'HAVESPACE "s" 10', False, [Atom("HAVESPACE"), String(b"s"), Atom("10")], None),
        (b'PUTSCRIPT "s" {31+}', False, [Atom("PUTSCRIPT"), String(b"s")], LiteralMarker(31, False)),
        (b"CHECKSCRIPT {0}", False, [Atom("CHECKSCRIPT")], LiteralMarker(0, True)),
        (b"", True, [], None),
        (b' "x"', True, [String(b"x")], None),
        (b" {4294967295+}", True, [], LiteralMarker(4294967295, False)),
    ],
)
def test_lex_segment(segment, continuation, tokens, marker):
    assert lex_segment(segment, continuation=continuation) == (tokens, marker)


@pytest.mark.parametrize(
    "segment",
    [b"", b" NOOP", b"NOOP  x", b'NOOP "x', b'NOOP "\x00"', b'NOOP "a\rb"', b'NOOP "\\n"', b"NOOP (x)",
     b"NOOP {4294967296+}", b"NOOP {+}", b"NOOP {5+} x", b'NOOP "x"y', b"NOOP \x01", b"A" * 1025,
     b'NOOP "' + b"x" * 1025 + b'"'],
)
def test_lex_segment_errors(segment):
    with pytest.raises(ParseError):
        lex_segment(segment, continuation=False)


def test_continuation_must_start_with_a_space():
    with pytest.raises(ParseError):
        lex_segment(b'"x"', continuation=True)


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        (b"", b'""'),
        (b"plain text", b'"plain text"'),
        ("ünï".encode(), '"ünï"'.encode()),
        (b'clever"script', b'{13}\r\nclever"script'),
        (b"back\\slash", b"{10}\r\nback\\slash"),
        (b"line 1\r\nline 2", b"{14}\r\nline 1\r\nline 2"),
        (b"\xff", b"{1}\r\n\xff"),
        (b"x" * 1024, b'"' + b"x" * 1024 + b'"'),
        (b"x" * 1025, b"{1025}\r\n" + b"x" * 1025),
    ],
)
def test_format_string(value, wire):
    assert format_string(value) == wire


@pytest.mark.parametrize(
    ("value", "quoted"), [(b"abc", True), (b'a"b', False), (b"a\\b", False), (b"a\r\nb", False)]
)
def test_format_string_round_trips_through_the_lexer(value, quoted):
    wire = format_string(value)
    tokens, marker = lex_segment(b"NOOP " + wire.split(b"\r\n")[0], continuation=False)
    if quoted:
        assert tokens[1] == String(value) and marker is None
    else:
        assert marker == LiteralMarker(len(value), True)


@pytest.mark.parametrize(
    ("response", "wire"),
    [
        (Ok(), b"OK\r\n"),
        (Ok("Done"), b'OK "Done"\r\n'),
        (No("Quota exceeded", ResponseCode("QUOTA/MAXSIZE")), b'NO (QUOTA/MAXSIZE) "Quota exceeded"\r\n'),
        (No(code=QUOTA_MAXSCRIPTS), b"NO (QUOTA/MAXSCRIPTS)\r\n"),
        (No("line 1: a\r\nline 2: b"), b"NO {20}\r\nline 1: a\r\nline 2: b\r\n"),
        (Bye("Too many failed authentication attempts"), b'BYE "Too many failed authentication attempts"\r\n'),
        (Bye(code=ResponseCode.referral("sieve://sieve.example.com")), b"BYE (REFERRAL sieve://sieve.example.com)\r\n"),
        (Ok(code=ResponseCode.sasl(b"rspauth=ea40")), b'OK (SASL "cnNwYXV0aD1lYTQw")\r\n'),
        (Ok("Done", ResponseCode.tag(b"STARTTLS-SYNC-42")), b'OK (TAG "STARTTLS-SYNC-42") "Done"\r\n'),
        (Ok("Done", ResponseCode.tag(b'a"b')), b'OK (TAG {3}\r\na"b) "Done"\r\n'),
        (ScriptList(()), b""),
        (ScriptList((("a", False), ("b", True))), b'"a"\r\n"b" ACTIVE\r\n'),
        (ScriptContent(b""), b"{0}\r\n\r\n"),
        (SaslChallenge(b""), b'""\r\n'),
        (Capabilities((("STARTTLS", None), ("VERSION", "1.0"))), b'"STARTTLS"\r\n"VERSION" "1.0"\r\n'),
    ],
)
def test_format_response(response, wire):
    assert format_response(response) == wire


def test_invalid_responses():
    with pytest.raises(ValueError):
        ScriptList((("a", True), ("b", True)))
    with pytest.raises(ValueError):
        ResponseCode("/QUOTA")
    with pytest.raises(ValueError):
        Capabilities((("SASL", ""), ("sasl", "")))
    with pytest.raises(ValueError):
        capabilities(implementation="x", sasl=[], sieve=[], starttls=False)


def test_capabilities_builder_order_and_owner():
    caps = capabilities(implementation="hivemail", sasl=["PLAIN"], sieve=["fileinto"], owner="tim@example.com",
                        language="en", maxredirects=3)
    assert [name for name, _ in caps.items] == [
        "IMPLEMENTATION", "SASL", "SIEVE", "MAXREDIRECTS", "LANGUAGE", "OWNER", "UNAUTHENTICATE", "VERSION"
    ]
    assert caps.items[-1] == ("VERSION", "1.0")


@pytest.mark.parametrize(
    "raw",
    [
        b"main", "ünïcode script".encode(), b"x" * 1024, "名前".encode(), b"with space", b'quote"d',
    ],
)
def test_valid_script_names(raw):
    assert check_script_name(raw) == raw.decode("utf-8")


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"", "Script name must not be empty"),
        (b"x" * 1025, "Script name longer than 1024 octets"),
        (b"\xc3", "Script name is not valid UTF-8"),
        (b"a\x00b", "Script name contains a control character"),
        (b"a\tb", "Script name contains a control character"),
        (b"a\x7fb", "Script name contains a control character"),
        ("a\u0085b".encode(), "Script name contains a control character"),
        ("a\u2028b".encode(), "Script name contains a control character"),
        ("a\u2029b".encode(), "Script name contains a control character"),
        ("e\u0301".encode(), "Script name is not in Unicode normalization form NFC"),
        ("a\U000e0080".encode(), "Script name contains an unassigned code point"),
    ],
)
def test_invalid_script_names(raw, text):
    with pytest.raises(ParseError) as info:
        check_script_name(raw)
    assert info.value.text == text


def test_empty_name_allowed_for_setactive_only():
    assert check_script_name(b"", allow_empty=True) == ""


@pytest.mark.parametrize(("data", "value"), [(b"", b""), (b"YQ==", b"a"), (b"AHRpbQB0", b"\x00tim\x00t")])
def test_decode_base64(data, value):
    assert decode_base64(data) == value


@pytest.mark.parametrize("data", [b"YQ", b"YQ=", b"Y Q==", b"YQ==YQ==x", b"!!!!"])
def test_decode_base64_is_strict(data):
    with pytest.raises(ValueError):
        decode_base64(data)
