"""Events the SMTP/LMTP core emits (frozen dataclasses, named as nouns).

Which events need an answer through ``SmtpServerConnection.send()``:

=================  =============================================================
``Hello``          none: informational, the core has already answered it
``MailFrom``       one ``Reply``; 2xx opens the transaction
``RcptTo``         one ``Reply``; 2xx makes it an *accepted* recipient
``MessageReceived`` SMTP: one ``Reply``.  LMTP: a list with exactly one
                   ``Reply`` per accepted recipient, in RCPT order
                   (RFC 2033 section 4.2)
``Closed``         none: flush ``data_to_send()`` and close the socket
=================  =============================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["Event", "Hello", "MailFrom", "RcptTo", "MessageReceived", "Closed"]


class Event:
    """Base class of the SMTP core's events."""

    __slots__ = ()


@dataclass(frozen=True)
class Hello(Event):
    """EHLO, HELO or LHLO was accepted; ``verb`` is upper-case."""

    verb: str
    domain: str


@dataclass(frozen=True)
class MailFrom(Event):
    """MAIL FROM; ``address`` is ``""`` for the null reverse-path ``<>``.

    ``params`` maps upper-case ESMTP keywords to values (``None`` for a
    keyword without value): ``SIZE`` (digits), ``BODY`` (``7BIT`` or
    ``8BITMIME``), ``SMTPUTF8``.  SIZE was already checked against the limit.
    """

    address: str
    params: dict[str, str | None]


@dataclass(frozen=True)
class RcptTo(Event):
    """RCPT TO.  ``address`` is ``"Postmaster"`` for the domainless form."""

    address: str
    params: dict[str, str | None]


@dataclass(frozen=True)
class MessageReceived(Event):
    """The data of a transaction, after ``<CRLF>.<CRLF>``.

    ``recipients`` are the accepted ones, in RCPT order (duplicates kept:
    LMTP owes one reply for each).  ``data`` is dot-unstuffed, line ends as
    received (CRLF; bare LF/CR passed through, see ``data.py``).
    ``mail_params`` repeats the MAIL parameters (BODY, SMTPUTF8, SIZE).
    """

    mail_from: str
    recipients: tuple[str, ...]
    data: bytes
    mail_params: Mapping[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Closed(Event):
    """The core is done: ``reason`` is ``"quit"``, ``"eof"``, ``"too many errors"``,
    ``"forbidden command"`` or ``"421"`` (a closing reply was sent).  After it,
    ``conn.closed`` is true; flush ``data_to_send()`` and close the socket."""

    reason: str
