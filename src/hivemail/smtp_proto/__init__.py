"""Pure SMTP/LMTP server protocol core (sans-I/O, stdlib only).

Public names only, h11-style; see ``connection.py`` for the contract.
"""

from .commands import CommandError, MailCommand, RcptCommand
from .connection import BAD_SEQUENCE, SmtpLimits, SmtpServerConnection, State
from .data import DATA_END, read_data, unstuff
from .events import Closed, Event, Hello, MailFrom, MessageReceived, RcptTo
from .replies import Reply, format_replies

__all__ = [
    "BAD_SEQUENCE",
    "Closed",
    "CommandError",
    "DATA_END",
    "Event",
    "Hello",
    "MailCommand",
    "MailFrom",
    "MessageReceived",
    "RcptCommand",
    "RcptTo",
    "Reply",
    "SmtpLimits",
    "SmtpServerConnection",
    "State",
    "format_replies",
    "read_data",
    "unstuff",
]
