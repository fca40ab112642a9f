"""Sieve mail filtering (RFC 5228 and extensions) as a pure library.

No I/O, no asyncio, no storage: text in, ``Script`` out; a ``Script`` and a
message in, an ``Outcome`` (the actions to carry out) out.

    script = parse(text)                     # raises SieveError(line, column, message)
    outcome = evaluate(script, SieveMessage.from_bytes(raw), Envelope("a@x", "me@y"),
                       limits=Limits(), context=Context(now=..., mailbox_exists=...))
    for action in outcome.actions: ...       # Keep / FileInto / Redirect / Discard /
                                             # Reject / Ereject / Vacation

``parse`` refuses what a ManageSieve upload must refuse (syntax, unknown or
unrequired extensions, wrong arguments) with the line and column.
``evaluate`` never raises: a runtime error or an exceeded limit gives the
implicit keep and the error in ``Outcome.errors``.  ``EXTENSIONS`` is the
ManageSieve SIEVE capability.
"""

from __future__ import annotations

from .actions import (
    Action,
    AddHeader,
    DeleteHeader,
    Discard,
    Ereject,
    FileInto,
    HeaderEdit,
    Keep,
    Outcome,
    Redirect,
    Reject,
    Vacation,
)
from .editheader import apply_header_edits
from .errors import SieveError
from .interpreter import Context, Limits, evaluate
from .message import BodyPart, Envelope, SieveMessage
from .nodes import Script
from .parser import parse_tree
from .vacation import vacation_allowed
from .validate import EXTENSIONS, validate

__all__ = [
    "EXTENSIONS",
    "Action",
    "AddHeader",
    "BodyPart",
    "Context",
    "DeleteHeader",
    "Discard",
    "Envelope",
    "Ereject",
    "FileInto",
    "HeaderEdit",
    "Keep",
    "Limits",
    "Outcome",
    "Redirect",
    "Reject",
    "Script",
    "SieveError",
    "SieveMessage",
    "Vacation",
    "apply_header_edits",
    "evaluate",
    "parse",
    "vacation_allowed",
]

_DEFAULT_LIMITS = Limits()


def parse(
    text: str,
    *,
    max_size: int = _DEFAULT_LIMITS.max_script_size,
    max_nesting: int = _DEFAULT_LIMITS.max_nesting,
) -> Script:
    """Parse and validate a script; raise SieveError with line and column on any fault.

    ``max_size`` counts UTF-8 octets (what ManageSieve's HAVESPACE and
    PUTSCRIPT count); ``max_nesting`` bounds blocks and nested tests together.
    """
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > max_size:
        raise SieveError(1, 1, f"script is {size} octets, more than the limit of {max_size}")
    commands, extensions = validate(parse_tree(text, max_nesting=max_nesting))
    return Script(commands, extensions)
