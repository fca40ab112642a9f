"""The pure IMAP4rev2/rev1 server protocol core: bytes in, events out; responses in, bytes out.

No asyncio, no storage, stdlib only (DESIGN.md principle 1).  Public names
are re-exported here, h11-style; see ``connection.py`` for how a session
drives :class:`ImapServerConnection`.
"""

from .commands import *  # noqa: F401,F403 - the request dataclasses
from .commands import COMMANDS, CommandSpec
from .commands import __all__ as _commands_all
from .connection import LITERAL_MINUS_MAX, ImapLimits, ImapServerConnection
from .dates import format_date, format_datetime, parse_date, parse_datetime
from .events import (
    AuthContinuation,
    BadCommand,
    CommandReceived,
    ConnectionClosed,
    Event,
    IdleDone,
    LiteralRequested,
)
from .responses import (
    Capability,
    Condition,
    Continuation,
    Enabled,
    ESearch,
    Exists,
    Expunge,
    Fetch,
    FetchLines,
    FileSegment,
    Flags,
    FormatContext,
    Id,
    ListItem,
    Literal,
    LiteralFile,
    Namespace,
    RawUntagged,
    Recent,
    Response,
    ResponseCode,
    Search,
    Status,
    Tagged,
    Untagged,
    Vanished,
    Version,
    format_bytes,
    format_response,
)
from .seqset import STAR, SeqRange, SeqSet, parse_seqset
from .states import State

__all__ = [
    *_commands_all,
    "COMMANDS",
    "CommandSpec",
    "ImapLimits",
    "ImapServerConnection",
    "LITERAL_MINUS_MAX",
    "format_date",
    "format_datetime",
    "parse_date",
    "parse_datetime",
    "AuthContinuation",
    "BadCommand",
    "CommandReceived",
    "ConnectionClosed",
    "Event",
    "IdleDone",
    "LiteralRequested",
    "Capability",
    "Condition",
    "Continuation",
    "Enabled",
    "ESearch",
    "Exists",
    "Expunge",
    "Fetch",
    "FetchLines",
    "FileSegment",
    "Flags",
    "FormatContext",
    "Id",
    "ListItem",
    "Literal",
    "LiteralFile",
    "Namespace",
    "RawUntagged",
    "Recent",
    "Response",
    "ResponseCode",
    "Search",
    "Status",
    "Tagged",
    "Untagged",
    "Vanished",
    "Version",
    "format_bytes",
    "format_response",
    "STAR",
    "SeqRange",
    "SeqSet",
    "parse_seqset",
    "State",
]
