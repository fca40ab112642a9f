"""Errors shared by the sans-I/O protocol cores.

The split follows h11 (``LocalProtocolError`` / ``RemoteProtocolError``):
*remote* errors mean the peer sent something we cannot accept and the core
answers it on the wire; *local* errors mean the caller (the session layer)
used the core wrongly, which is a bug in our code and is raised to it.
"""

from __future__ import annotations

__all__ = [
    "ProtocolError",
    "LocalProtocolError",
    "RemoteProtocolError",
    "LimitExceeded",
    "LineTooLong",
    "LiteralTooBig",
    "UnexpectedEOF",
]


class ProtocolError(Exception):
    """Base class of every protocol error raised by the ``wire`` helpers and cores."""


class LocalProtocolError(ProtocolError, RuntimeError):
    """The caller broke the core's contract (e.g. a reply nobody asked for)."""


class RemoteProtocolError(ProtocolError):
    """The peer broke the protocol."""


class LimitExceeded(RemoteProtocolError):
    """The peer sent more bytes than a configured limit before a delimiter.

    The reader raises it *without consuming anything*: the offending bytes are
    still buffered, so the caller decides whether to skip them
    (``StreamReader.skip_until``) or to give up on the connection.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} bytes without a delimiter")
        self.limit = limit


class LineTooLong(LimitExceeded):
    """A line (command, response) is longer than the limit, line end included."""


class LiteralTooBig(LimitExceeded):
    """A counted literal (IMAP ``{n}``, SMTP ``BDAT n``) announced a size over the limit."""


class UnexpectedEOF(EOFError, RemoteProtocolError):
    """The stream ended in the middle of a line or a counted read.

    ``partial`` holds the bytes that were buffered when the end came (they have
    been consumed), for cores that want to log them.
    """

    def __init__(self, partial: bytes = b"") -> None:
        super().__init__(f"stream ended with {len(partial)} unterminated bytes")
        self.partial = partial
