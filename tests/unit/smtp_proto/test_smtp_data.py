"""The DATA reader: terminator, dot-unstuffing, size limit, and every smuggling vector.

Each case runs through ``read_data`` directly (whole, byte by byte, chunked) and
through a full SMTP and LMTP session, where what follows the data must be
parsed as commands only after a real ``<CRLF>.<CRLF>``.
"""

from __future__ import annotations

import pytest

from hivemail.smtp_proto import (
    MailFrom,
    MessageReceived,
    RcptTo,
    Reply,
    SmtpLimits,
    SmtpServerConnection,
    read_data,
    unstuff,
)
from hivemail.wire import StreamReader, UnexpectedEOF

CHUNKS = [1, 2, 3, 4, 5, 7, 13, 64, 10**9]


def run_reader(wire: bytes, chunk: int, max_size: int = 10_000) -> tuple[bytes | None, bytes]:
    """Feed ``wire`` to read_data; return (result, bytes left unread)."""
    reader = StreamReader()
    gen = read_data(reader, max_size)
    pieces = [wire[i : i + chunk] for i in range(0, len(wire), chunk)]
    try:
        next(gen)
        while pieces:
            reader.feed_data(pieces.pop(0))
            next(gen)
        reader.feed_eof()
        next(gen)
    except StopIteration as stop:
        return stop.value, bytes(reader._buffer) + b"".join(pieces)
    raise AssertionError("unreachable")


DATA_CASES = [
    # (bytes after "DATA\r\n", message, what is left for the command parser)
    (b".\r\n", b"", b""),
    (b".\r\nQUIT\r\n", b"", b"QUIT\r\n"),
    (b"\r\n.\r\n", b"\r\n", b""),
    (b"hello\r\n.\r\n", b"hello\r\n", b""),
    (b"a\r\nb\r\n.\r\nNOOP\r\n", b"a\r\nb\r\n", b"NOOP\r\n"),
    # Dot-unstuffing (RFC 5321 section 4.5.2), first line included.
    (b"..\r\n.\r\n", b".\r\n", b""),
    (b"..x\r\n.\r\n", b".x\r\n", b""),
    (b"a\r\n..\r\n...\r\n.b\r\n.\r\n", b"a\r\n.\r\n..\r\nb\r\n", b""),
    (b"a\r\n..\r\n.\r\n", b"a\r\n.\r\n", b""),
    # The end must be a line of its own.
    (b"a\r\n. \r\n.\r\n", b"a\r\n \r\n", b""),
    (b"a.\r\n.\r\n", b"a.\r\n", b""),
    # Only the first <CRLF>.<CRLF> ends the data; the next "." line is a command line.
    (b"a\r\n.\r\n.\r\n", b"a\r\n", b".\r\n"),
]


@pytest.mark.parametrize("chunk", CHUNKS)
@pytest.mark.parametrize(("wire", "message", "rest"), DATA_CASES)
def test_read_data(wire: bytes, message: bytes, rest: bytes, chunk: int) -> None:
    assert run_reader(wire, chunk) == (message, rest)


# The SMTP smuggling vectors (SEC Consult, December 2023; CVE-2023-51764/5/6):
# each fake end of data is followed by a second transaction.  The fake end and
# the smuggled commands must remain message content.
SMUGGLED = b"MAIL FROM:<admin@victim.example>\r\nRCPT TO:<x@victim.example>\r\nDATA\r\nforged\r\n"
FAKE_ENDS = [
    b"\n.\n",
    b"\r.\r",
    b"\n.\r\n",
    b"\r\n.\n",
    b"\r.\r\n",
    b"\r\n.\r",
    b"\n.\r",
    b"\r.\n",
    b"\r\n\x00.\r\n",
    b"\n..\n",
    b"\r\n.\n\r\n",
]


@pytest.mark.parametrize("chunk", CHUNKS)
@pytest.mark.parametrize("fake_end", FAKE_ENDS)
def test_smuggled_end_of_data_is_content(fake_end: bytes, chunk: int) -> None:
    wire = b"legit" + fake_end + SMUGGLED + b"\r\n.\r\nQUIT\r\n"
    message, rest = run_reader(wire, chunk)
    assert message is not None
    assert b"MAIL FROM:<admin@victim.example>" in message
    assert rest == b"QUIT\r\n"


@pytest.mark.parametrize("lmtp", [False, True])
@pytest.mark.parametrize("fake_end", FAKE_ENDS)
def test_smuggled_transaction_never_becomes_commands(fake_end: bytes, lmtp: bool) -> None:
    hello = b"LHLO c\r\n" if lmtp else b"EHLO c\r\n"
    wire = (
        hello
        + b"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n"
        + b"Subject: hi\r\n\r\nlegit"
        + fake_end
        + SMUGGLED
        + b"\r\n.\r\nQUIT\r\n"
    )
    for chunk in (1, 5, len(wire)):
        conn = SmtpServerConnection(lmtp, "mx.example", SmtpLimits())
        conn.start()
        events = []
        for i in range(0, len(wire), chunk):
            conn.receive_data(wire[i : i + chunk])
            for ev in conn.events():
                events.append(ev)
                if isinstance(ev, (MailFrom, RcptTo)):
                    conn.send(Reply.ok())
                elif isinstance(ev, MessageReceived):
                    conn.send([Reply.ok()] if lmtp else Reply.ok())
        mails = [e for e in events if isinstance(e, MailFrom)]
        messages = [e for e in events if isinstance(e, MessageReceived)]
        assert [m.address for m in mails] == ["a@b.example"]
        assert len(messages) == 1
        assert messages[0].data.endswith(SMUGGLED + b"\r\n")
        assert conn.closed


@pytest.mark.parametrize("chunk", CHUNKS)
def test_bare_lf_and_cr_pass_through_unstuffed_like_dovecot(chunk: int) -> None:
    wire = b"a\nb\rc\r\n.d\n.e\r..f\r\n.\r\n"
    # Line ends stay as received; a dot starting a line after CRLF or bare LF
    # is unstuffed, as Dovecot's LMTP does (checked against Dovecot 2.3.19:
    # "line1\n..\nline2\n.x" is stored as "line1\n.\nline2\nx"); a bare CR
    # does not start a line.
    assert run_reader(wire, chunk) == (b"a\nb\rc\r\nd\ne\r..f\r\n", b"")


def test_eof_inside_data() -> None:
    reader = StreamReader()
    gen = read_data(reader, 100)
    next(gen)
    reader.feed_data(b"unfinished\r\n")
    next(gen)
    reader.feed_eof()
    with pytest.raises(UnexpectedEOF):
        next(gen)


@pytest.mark.parametrize("chunk", [1, 7, 64, 10**9])
def test_too_big_is_read_to_the_end_and_discarded(chunk: int) -> None:
    wire = b"x" * 70 + b"\r\n" + b"y" * 70 + b"\r\n.\r\nQUIT\r\n"
    assert run_reader(wire, chunk, max_size=100) == (None, b"QUIT\r\n")


def test_size_limit_is_exact_and_counts_unstuffed_octets() -> None:
    # RFC 1870 section 4: stuffing dots and the terminator do not count.
    body = b"..\r\n" * 25  # 100 raw octets, 75 real ones
    assert run_reader(body + b".\r\n", 10**9, max_size=75) == (b".\r\n" * 25, b"")
    assert run_reader(body + b".\r\n", 10**9, max_size=74) == (None, b"")
    assert run_reader(b"x" * 98 + b"\r\n.\r\n", 3, max_size=100) == (b"x" * 98 + b"\r\n", b"")
    assert run_reader(b"x" * 99 + b"\r\n.\r\n", 3, max_size=100) == (None, b"")


@pytest.mark.parametrize(
    ("raw", "clean"),
    [(b"", b""), (b".", b""), (b"..\r\n", b".\r\n"), (b"a\r\n.b\r\n..c\r\n", b"a\r\nb\r\n.c\r\n"), (b"a\n.b\r\n", b"a\nb\r\n"), (b"a\r.b\r\n", b"a\r.b\r\n")],
)
def test_unstuff(raw: bytes, clean: bytes) -> None:
    assert unstuff(raw) == clean


# -- unstuffing is split and join: the same function as the old replace ------

from hypothesis import given, strategies as st  # noqa: E402

from hivemail.smtp_proto import data as data_module  # noqa: E402

_ALPHABET = st.sampled_from([b".", b"\r", b"\n", b"\r\n", b"\r\n.", b"\n.", b"x", b".."])


def _by_replace(raw: bytes) -> bytes:
    """The definition: drop a leading period and the period after every LF."""
    if raw.startswith(b"."):
        raw = raw[1:]
    return raw.replace(b"\n.", b"\n")


@given(st.lists(_ALPHABET, max_size=40).map(b"".join))
def test_unstuff_equals_replace(raw: bytes) -> None:
    assert unstuff(raw) == _by_replace(raw)


@given(st.lists(_ALPHABET, max_size=40).map(b"".join))
def test_read_data_unstuffs_like_replace(body: bytes) -> None:
    """Whatever precedes the first real <CRLF>.<CRLF> comes back unstuffed
    as the definition says, with the terminator's period dropped."""
    wire = b"a\r\n" + body + b"\r\n.\r\n"
    end = wire.index(b"\r\n.\r\n") + 2
    assert run_reader(wire, 10**9, max_size=10**6) == (_by_replace(wire[:end]), wire[end + 3 :])


@pytest.mark.parametrize("chunk", [7, 10**9])
def test_unstuff_past_the_piece_limit(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    """More stuffed lines than are split out at once: the rest is unstuffed
    by replace, and the result is the same."""
    monkeypatch.setattr(data_module, "_MAX_PIECES", 3)
    body = b"..a\r\n" * 10 + b"b\n..c\r\n"
    clean = b".a\r\n" * 10 + b"b\n.c\r\n"
    assert unstuff(body) == clean
    assert run_reader(body + b".\r\nNOOP\r\n", chunk, max_size=10**6) == (clean, b"NOOP\r\n")
