"""SMTP/LMTP replies: one dataclass, one pure formatting function.

RFC 5321 section 4.2::

    Reply-line     = *( Reply-code "-" [ textstring ] CRLF )
                     Reply-code [ SP textstring ] CRLF
    Reply-code     = %x32-35 %x30-35 %x30-39
    textstring     = 1*(%d09 / %d32-126) ; HT, SP, Printable US-ASCII

RFC 2034 section 4 (ENHANCEDSTATUSCODES): once the extension is advertised,
the enhanced code ("class.subject.detail", RFC 3463) starts the text of every
2xx, 4xx and 5xx line, *except* the greeting and the answers to HELO/EHLO
(and LHLO, which RFC 2033 section 4.1 makes identical to EHLO).  We always
advertise it, so a ``Reply`` carries its enhanced code itself and is
formatted the same way in every state; replies that must not carry one
(greeting, EHLO, 354) are built with ``enhanced=None``.

UTF-8 in reply text is allowed after SMTPUTF8 (RFC 6531 section 3.7.4.2);
we only refuse line breaks and other control characters, which would let a
caller inject reply lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Reply", "format_replies"]

# RFC 3463 section 2: class "." subject "." detail; class is 2, 4 or 5,
# subject 1*3digit, detail 1*3digit.
_ENHANCED = re.compile(r"[245]\.[0-9]{1,3}\.[0-9]{1,3}\Z")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass(frozen=True)
class Reply:
    """One SMTP reply.  ``text`` may hold several lines separated by ``"\\n"``.

    Use the constructors (``Reply.ok()``, ``Reply.temp_fail(...)`` ...) for
    the common answers; construct directly for anything else.
    """

    code: int
    enhanced: str | None
    text: str

    def __post_init__(self) -> None:
        if not 200 <= self.code <= 559:
            raise ValueError(f"reply code out of range: {self.code}")
        if self.enhanced is not None:
            if not _ENHANCED.match(self.enhanced):
                raise ValueError(f"bad enhanced status code: {self.enhanced!r}")
            # RFC 3463 section 3: the class must match the reply code's class.
            if self.enhanced[0] != str(self.code)[0]:
                raise ValueError(f"enhanced code {self.enhanced} does not match {self.code}")
        for line in self.lines:
            if _CONTROL.search(line):
                raise ValueError(f"control character in reply text: {line!r}")

    @property
    def lines(self) -> list[str]:
        return self.text.split("\n")

    @property
    def is_positive(self) -> bool:
        """2xx: the command succeeded (an RCPT replied 2xx is an accepted recipient)."""
        return 200 <= self.code < 300

    @property
    def closes(self) -> bool:
        """421: the server closes the transmission channel (RFC 5321 section 3.8)."""
        return self.code == 421

    def format(self) -> bytes:
        """The reply as it goes on the wire, CRLF after every line."""
        code = str(self.code)
        lines = self.lines
        out = []
        for i, line in enumerate(lines):
            text = " ".join(filter(None, (self.enhanced, line)))
            if i < len(lines) - 1:
                out.append(f"{code}-{text}\r\n")
            else:
                # Reply-code [ SP textstring ]: textstring is 1*, so no bare "250 ".
                out.append(f"{code} {text}\r\n" if text else f"{code}\r\n")
        return "".join(out).encode("utf-8")

    # -- the common replies -------------------------------------------------

    @classmethod
    def ok(cls, text: str = "OK", enhanced: str = "2.0.0") -> Reply:
        """250 2.0.0 OK (also the answer for accepted MAIL, RCPT, data)."""
        return cls(250, enhanced, text)

    @classmethod
    def sender_ok(cls) -> Reply:
        return cls(250, "2.1.0", "Sender OK")

    @classmethod
    def recipient_ok(cls) -> Reply:
        return cls(250, "2.1.5", "Recipient OK")

    @classmethod
    def delivered(cls, text: str = "Message accepted for delivery") -> Reply:
        return cls(250, "2.0.0", text)

    @classmethod
    def no_such_user(cls, address: str = "") -> Reply:
        """550 5.1.1: the recipient does not exist (RFC 3463 X.1.1)."""
        who = f"<{address}>: " if address else ""
        return cls(550, "5.1.1", f"{who}Recipient address rejected: no such user")

    @classmethod
    def temp_fail(cls, text: str = "Temporary failure, try again later", enhanced: str = "4.3.0") -> Reply:
        """451 4.3.0: local error; the client keeps the message and retries."""
        return cls(451, enhanced, text)

    @classmethod
    def over_quota(cls, permanent: bool = False) -> Reply:
        """452 4.2.2 / 552 5.2.2 mailbox full (RFC 3463 X.2.2)."""
        if permanent:
            return cls(552, "5.2.2", "Mailbox full")
        return cls(452, "4.2.2", "Mailbox full, try again later")

    @classmethod
    def service_closing(cls, hostname: str, text: str = "Service shutting down") -> Reply:
        """421 4.3.2: the core closes the connection after sending it."""
        return cls(421, "4.3.2", f"{hostname} {text}")

    @classmethod
    def syntax_error(cls, text: str = "Syntax error, command unrecognized") -> Reply:
        return cls(500, "5.5.2", text)

    @classmethod
    def bad_arguments(cls, text: str = "Syntax error in parameters or arguments") -> Reply:
        return cls(501, "5.5.4", text)

    @classmethod
    def bad_sequence(cls, text: str = "Bad sequence of commands") -> Reply:
        return cls(503, "5.5.1", text)

    @classmethod
    def too_big(cls) -> Reply:
        """552 5.3.4 (RFC 1870 section 6.1 and 6.3; RFC 3463 X.3.4)."""
        return cls(552, "5.3.4", "Message size exceeds fixed maximum message size")


def format_replies(replies: Iterable[Reply]) -> bytes:
    return b"".join(r.format() for r in replies)
