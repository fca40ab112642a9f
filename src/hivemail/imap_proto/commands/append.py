"""APPEND with MULTIAPPEND and literal8  (RFC 9051 section 6.3.12, RFC 3502, RFC 3516)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..dates import DateError, parse_datetime
from ..tokens import Args, ArgList, String

__all__ = ["AppendRequest", "AppendMessage", "parse_append"]


@dataclass(frozen=True)
class AppendMessage:
    """append-message = append-opts SP append-data
    append-opts     = [SP flag-list] [SP date-time] *(SP append-ext)
    append-data     = literal / literal8 / append-data-ext

    ``binary`` is true for literal8 (``~{n}``, RFC 3516 section 4.4);
    ``utf8`` for ``UTF8 (~{n})`` (RFC 6855 section 4: a message with UTF-8
    headers, allowed after ENABLE UTF8=ACCEPT).
    """

    message: bytes
    flags: tuple[str, ...] = ()
    internal_date: datetime | None = None
    binary: bool = False
    utf8: bool = False


@dataclass(frozen=True)
class AppendRequest:
    """append = "APPEND" SP mailbox 1*append-message   (RFC 3502 MULTIAPPEND)

    Usually one message; MULTIAPPEND clients send several, to be appended
    atomically.
    """

    mailbox: str
    messages: tuple[AppendMessage, ...]

    @property
    def message(self) -> bytes:
        """The first (usually the only) message."""
        return self.messages[0].message


def parse_append(args: Args) -> AppendRequest:
    mailbox = args.mailbox()
    messages = []
    while True:
        flags: tuple[str, ...] = ()
        date = None
        if isinstance(args.peek(), ArgList):
            flags = args.flag_list()
            if "\\Recent" in flags:
                raise args.error("\\Recent cannot be set by APPEND")
        arg = args.peek()
        if isinstance(arg, String) and not arg.literal:
            args.next("a date-time")
            try:
                date = parse_datetime(arg.value.decode("ascii", "replace"))
            except DateError as exc:
                raise args.error(str(exc)) from None
        utf8 = False
        if args.peek_keyword() == "UTF8":
            # append-data =/ "UTF8" SP "(" literal8 ")"      (RFC 6855 section 4)
            args.next("UTF8")
            inner = args.list("(literal8) after UTF8")
            arg = inner.next("a literal8 ~{n}")
            inner.end()
            if not isinstance(arg, String) or not arg.binary:
                raise args.unexpected("a literal8 ~{n} after UTF8", arg)
            if not args.ctx.utf8:
                raise args.error("UTF8 APPEND requires ENABLE UTF8=ACCEPT")
            utf8 = True
        else:
            arg = args.next("the message literal")
        if not isinstance(arg, String) or not arg.literal:
            raise args.unexpected("the message as a literal {n}", arg)
        messages.append(AppendMessage(arg.value, flags, date, arg.binary, utf8))
        if args.at_end():
            break
    return AppendRequest(mailbox, tuple(messages))
