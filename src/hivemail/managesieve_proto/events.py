"""Events the ManageSieve core emits (frozen dataclasses, named as nouns).

What the session owes for each (nothing is parsed meanwhile: one command
at a time, so responses always come out in command order):

====================  ==========================================================
``CommandReceived``   the data lines, if any, then one final ``Ok``/``No``/``Bye``;
                      for AUTHENTICATE: ``SaslChallenge`` steps or the final one
``AuthResponse``      the next SASL step: ``SaslChallenge`` or a final response
``AuthAborted``       ``conn.send(event.response)`` (a ``NO``); drop the exchange
``BadCommand``        ``conn.send(event.response)`` (a ``NO``, or ``BYE``)
``ConnectionClosed``  nothing more: flush ``data_to_send()`` and close the socket
====================  ==========================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from .commands import Request
from .responses import Bye, No

__all__ = ["Event", "CommandReceived", "AuthResponse", "AuthAborted", "BadCommand", "ConnectionClosed"]


@dataclass(frozen=True)
class CommandReceived:
    """A complete, well-formed command allowed in the current state."""

    request: Request


@dataclass(frozen=True)
class AuthResponse:
    """A SASL client response during AUTHENTICATE, base64 already decoded
    (``b""`` for an empty string).  Feed it to the exchange's ``step()``."""

    data: bytes

    def __repr__(self) -> str:
        return f"AuthResponse(<{len(self.data)} octets>)"


@dataclass(frozen=True)
class AuthAborted:
    """The AUTHENTICATE exchange ended on the client's side: it sent ``"*"``
    (``reason="cancelled"``; section 2.1: the server "MUST reject the
    AUTHENTICATE command by sending a NO reply"), a response that is not a
    string or not base64, or one over the limits.  Send ``response``; it is
    the final response to the AUTHENTICATE command."""

    reason: str
    response: No


@dataclass(frozen=True)
class BadCommand:
    """A command the core refused: unknown, malformed, not allowed in this
    state (section 2: "Servers MUST reject all other commands with a NO
    response"), over a limit.  Send ``response``.  It is ``NO`` and the
    connection stays usable, or ``BYE`` when the core gives up (too many
    bad commands, a literal far over the limits); the ``BYE`` moves to
    LOGOUT and ``ConnectionClosed`` follows."""

    response: No | Bye


@dataclass(frozen=True)
class ConnectionClosed:
    """The core is done.  ``reason``: ``"logout"`` (LOGOUT answered), ``"bye"``
    (a BYE was sent), or ``"eof"`` (the client closed)."""

    reason: str


Event = Union[CommandReceived, AuthResponse, AuthAborted, BadCommand, ConnectionClosed]
