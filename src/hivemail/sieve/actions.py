"""What evaluating a script decides: actions, header edits, and the Outcome.

The caller carries out ``Outcome.actions`` in order.  An implicit keep
(RFC 5228 section 2.10.2) is already in that list as ``Keep(implicit=True)``,
so "deliver what the list says" is the whole contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union


@dataclass(frozen=True)
class Keep:
    """Deliver to INBOX with ``flags`` (RFC 5228 section 4.3; RFC 5232 section 5)."""

    flags: tuple[str, ...] = ()
    implicit: bool = False


@dataclass(frozen=True)
class FileInto:
    """Deliver to ``mailbox`` (RFC 5228 section 4.1); ``create`` per RFC 5490 section 3.2."""

    mailbox: str
    flags: tuple[str, ...] = ()
    create: bool = False
    copy: bool = False


@dataclass(frozen=True)
class Redirect:
    """Send the message on to ``address`` (RFC 5228 section 4.2; ``copy`` per RFC 3894)."""

    address: str
    copy: bool = False


@dataclass(frozen=True)
class Discard:
    """Drop the message silently (RFC 5228 section 4.4)."""


@dataclass(frozen=True)
class Reject:
    """Refuse with a DSN/MDN carrying ``reason`` (RFC 5429 section 2.2)."""

    reason: str


@dataclass(frozen=True)
class Ereject:
    """Refuse at the protocol level if possible (RFC 5429 section 2.1)."""

    reason: str


@dataclass(frozen=True)
class Vacation:
    """Send one auto-reply, all parameters resolved (RFC 5230 section 4).

    ``to`` is the address to answer (the envelope sender); ``own_address``
    the recipient the message came for.  ``from_`` is None when the script
    gave no ``:from``.  ``seconds`` is the response interval (``:days`` times
    86400, or ``:seconds``).  The rules of sections 4.5 and 4.6 have already
    been applied (``vacation_allowed``); the caller owns the per-``handle``
    and per-sender memory of section 4.2 and the sending.
    """

    to: str
    own_address: str
    reason: str
    subject: str
    from_: str | None
    addresses: tuple[str, ...]
    mime: bool
    handle: str
    seconds: int

    @property
    def days(self) -> int:
        return self.seconds // 86400


@dataclass(frozen=True)
class AddHeader:
    """``addheader`` (RFC 5293 section 4): at the top, or at the bottom with ``last``."""

    name: str
    value: str
    last: bool = False


@dataclass(frozen=True)
class DeleteHeader:
    """``deleteheader`` resolved: the 1-based occurrences of ``name`` to delete, at that moment."""

    name: str
    occurrences: tuple[int, ...]


Action = Union[Keep, FileInto, Redirect, Discard, Reject, Ereject, Vacation]
HeaderEdit = Union[AddHeader, DeleteHeader]


@dataclass(frozen=True)
class Outcome:
    """The result of ``evaluate``; it is always returned, never raised.

    ``actions``: what to do, in order, with the implicit keep included.
    ``implicit_keep``: whether that happened.  ``errors``: the runtime error
    that made the script fail, if any; then ``actions`` is the implicit keep
    alone and nothing else the script decided is carried out.
    ``header_edits``: editheader changes in order (replay them with
    ``apply_header_edits``); ``headers``: the resulting (name, value) list.
    ``variables``: the final variables (RFC 5229), for diagnostics and tests.
    """

    actions: tuple[Action, ...]
    implicit_keep: bool
    errors: tuple[str, ...] = ()
    header_edits: tuple[HeaderEdit, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    variables: tuple[tuple[str, str], ...] = ()
