"""Drive ImapServerConnection in tests: feed bytes whole, byte by byte or in chunks."""

from __future__ import annotations

from hivemail.imap_proto import (
    BadCommand,
    CommandReceived,
    IdleDone,
    ImapLimits,
    ImapServerConnection,
    LiteralRequested,
    State,
    Tagged,
)

#: None = whole; ints = chunk sizes (1 = byte by byte).
CHUNKINGS = (None, 1, 2, 3, 7, 64)


def split(data: bytes, chunk: int | None) -> list[bytes]:
    if chunk is None:
        return [data]
    return [data[i : i + chunk] for i in range(0, len(data), chunk)]


class Driver:
    """A minimal session: answers every command OK, accepts literals, answers BADs."""

    def __init__(self, conn: ImapServerConnection, *, answer: bool = True, accept: bool = True) -> None:
        self.conn = conn
        self.answer = answer
        self.accept = accept
        self.events: list = []
        self.out = b""

    def feed(self, data: bytes, chunk: int | None = None) -> Driver:
        for piece in split(data, chunk):
            self.conn.receive_data(piece)
            self.drain()
        return self

    def eof(self) -> Driver:
        self.conn.receive_data(b"")
        self.drain()
        return self

    def drain(self) -> None:
        for event in self.conn.events():
            self.events.append(event)
            if isinstance(event, LiteralRequested) and self.accept:
                self.conn.accept_literal()
            elif isinstance(event, BadCommand) and self.answer:
                self.conn.send(event.response())
            elif isinstance(event, CommandReceived) and self.answer and event.command not in ("IDLE", "AUTHENTICATE"):
                self.conn.send(Tagged.ok(event.tag))
            elif isinstance(event, IdleDone) and self.answer:
                self.conn.send(Tagged.ok(event.tag))
        self.out += self.conn.data_to_send()


def run(
    data: bytes,
    chunk: int | None = None,
    *,
    state: State = State.SELECTED,
    limits: ImapLimits | None = None,
    answer: bool = True,
    accept: bool = True,
    **kwargs,
) -> Driver:
    conn = ImapServerConnection(limits, state=state, **kwargs)
    return Driver(conn, answer=answer, accept=accept).feed(data, chunk)


def events_all_chunkings(data: bytes, **kwargs) -> list:
    """The events for ``data``, asserting every chunking gives the same ones."""
    results = [run(data, chunk, **kwargs).events for chunk in CHUNKINGS]
    for other in results[1:]:
        assert other == results[0]
    return results[0]


def parse_one(line: bytes, **kwargs):
    """The request of a one-command line (CRLF added), or the BadCommand."""
    if not line.endswith(b"\n"):
        line += b"\r\n"
    events = [e for e in events_all_chunkings(line, **kwargs) if not isinstance(e, LiteralRequested)]
    assert len(events) == 1, events
    event = events[0]
    return event.request if isinstance(event, CommandReceived) else event


def assert_bad(line: bytes, *fragments: str, **kwargs) -> BadCommand:
    """``line`` gives a BAD whose text contains ``fragments``, and the connection
    still parses the next command."""
    if not line.endswith(b"\n"):
        line += b"\r\n"
    events = [e for e in events_all_chunkings(line + b"z9 NOOP\r\n", **kwargs) if not isinstance(e, LiteralRequested)]
    assert isinstance(events[0], BadCommand), events
    for fragment in fragments:
        assert fragment.lower() in events[0].text.lower(), (fragment, events[0].text)
    assert isinstance(events[-1], CommandReceived) and events[-1].tag == "z9", events
    return events[0]
