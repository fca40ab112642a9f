"""Events the IMAP core emits (frozen dataclasses, named as nouns).

What the session owes for each:

====================  ==========================================================
``CommandReceived``   exactly one tagged response (after any untagged ones);
                      for IDLE and AUTHENTICATE see below
``LiteralRequested``  ``conn.accept_literal()`` or ``conn.reject_literal(tagged)``
                      before anything else of this connection is parsed
``BadCommand``        one response: ``conn.send(event.response())``
``IdleDone``          the tagged OK for the IDLE command
``AuthContinuation``  the next SASL step: a ``Continuation`` then
                      ``conn.expect_auth_line()``, or the tagged response
``ConnectionClosed``  nothing: the peer is gone; close the socket
====================  ==========================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

from .responses import Condition, ResponseCode, Tagged

__all__ = [
    "Event",
    "CommandReceived",
    "LiteralRequested",
    "BadCommand",
    "IdleDone",
    "AuthContinuation",
    "ConnectionClosed",
]


@dataclass(frozen=True)
class CommandReceived:
    """A complete, well-formed command allowed in the current state.

    ``request`` is the family's dataclass (``FetchRequest``...); ``command``
    the upper-case name from the command table (``"UID FETCH"``).
    """

    tag: str
    request: Any
    command: str = ""


@dataclass(frozen=True)
class LiteralRequested:
    """A synchronizing literal of an APPEND message (``{size}``, or ``~{size}`` when
    ``binary``) is waiting for the session's verdict: ``conn.accept_literal()``
    sends ``+ Ready`` and the core reads the data; ``conn.reject_literal(resp)``
    sends the tagged response (e.g. ``NO [TOOBIG]`` or ``NO [TRYCREATE]``), and
    the client sends neither the literal nor the rest of the command
    (RFC 9051 section 4.3)."""

    tag: str
    command: str
    size: int
    binary: bool = False


@dataclass(frozen=True)
class BadCommand:
    """A command the core refused.  ``tag`` is ``None`` when none could be read
    (answer with an untagged BAD).  ``status`` is ``"BAD"`` except for the few
    refusals the RFCs answer with NO (``SEARCH CHARSET`` -> ``NO [BADCHARSET]``)
    and ``"BYE"`` (untagged) when the core gives up on the connection (a
    non-synchronizing literal far over the limits): send it and close."""

    tag: str | None
    text: str
    code: ResponseCode | str | None = None
    status: str = "BAD"

    def response(self) -> Tagged | Condition:
        if self.tag is None:
            return Condition(self.status, self.text, self.code)
        return Tagged(self.tag, self.status, self.text, self.code)


@dataclass(frozen=True)
class IdleDone:
    """The client ended IDLE with ``DONE`` (RFC 2177)."""

    tag: str = ""


@dataclass(frozen=True)
class AuthContinuation:
    """One client line during AUTHENTICATE: base64 (not decoded; CRLF removed).

    ``*`` is the client cancelling the exchange (RFC 9051 section 6.2.2):
    answer ``BAD``.
    """

    line: bytes

    @property
    def cancelled(self) -> bool:
        return self.line.strip() == b"*"

    def decode(self) -> bytes:
        """The decoded response; raises ``ValueError`` if it is not valid base64."""
        from .commands.login import decode_sasl

        return decode_sasl(self.line.strip())


@dataclass(frozen=True)
class ConnectionClosed:
    """The peer closed the connection (EOF), or the core gave up on it."""


Event = Union[CommandReceived, LiteralRequested, BadCommand, IdleDone, AuthContinuation, ConnectionClosed]
