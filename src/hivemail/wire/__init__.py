"""Shared sans-I/O helpers for the protocol cores (stdlib only)."""

from .errors import (
    LimitExceeded,
    LineTooLong,
    LiteralTooBig,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
    UnexpectedEOF,
)
from .reader import Reading, StreamReader

__all__ = [
    "LimitExceeded",
    "LineTooLong",
    "LiteralTooBig",
    "LocalProtocolError",
    "ProtocolError",
    "Reading",
    "RemoteProtocolError",
    "StreamReader",
    "UnexpectedEOF",
]
