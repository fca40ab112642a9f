"""LIST LSUB NAMESPACE  (RFC 9051 sections 6.3.9, 6.3.10; RFC 5258, 5819, 6154; RFC 3501 6.3.9)."""

from __future__ import annotations

from dataclasses import dataclass

from ..tokens import Args, ArgList
from .status import parse_status_items

__all__ = [
    "ListRequest",
    "LsubRequest",
    "NamespaceRequest",
    "parse_list",
    "parse_lsub",
    "parse_namespace",
]

# list-select-base-opt = "SUBSCRIBED" / option-extension
# list-select-mod-opt  = "RECURSIVEMATCH" / option-extension
# list-select-independent-opt = "REMOTE" / option-extension
# (RFC 6154 section 6 adds "SPECIAL-USE" as a selection option)
SELECT_OPTIONS = frozenset({"SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE"})
# return-option   = "SUBSCRIBED" / "CHILDREN" / status-option / option-extension
#                   (RFC 6154: "SPECIAL-USE")
RETURN_OPTIONS = frozenset({"SUBSCRIBED", "CHILDREN", "SPECIAL-USE", "STATUS"})


@dataclass(frozen=True)
class ListRequest:
    """list = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat [SP list-return-opts]

    (RFC 9051 section 9, from RFC 5258)::

        list-select-opts = "(" [list-select-opt *(SP list-select-opt)] ")"
        mbox-or-pat      = list-mailbox / patterns
        patterns         = "(" list-mailbox *(SP list-mailbox) ")"
        list-return-opts = "RETURN" SP "(" [return-option *(SP return-option)] ")"
        status-option    = "STATUS" SP "(" status-att *(SP status-att) ")"   (RFC 5819)

    Options are upper-cased and de-duplicated, in the order sent.
    ``status`` holds the STATUS return items (``None`` when not asked).
    ``extended`` is true when the LIST-EXTENDED syntax was used (selection
    options, several patterns, or RETURN): such a LIST never returns the
    LSUB-like ``""``-pattern delimiter query semantics differently, but the
    session may want to know.
    """

    reference: str
    patterns: tuple[str, ...]
    select_options: tuple[str, ...] = ()
    return_options: tuple[str, ...] = ()
    status: tuple[str, ...] | None = None
    extended: bool = False


@dataclass(frozen=True)
class LsubRequest:
    """lsub = "LSUB" SP mailbox SP list-mailbox   (RFC 3501 section 6.3.9; not in IMAP4rev2)"""

    reference: str
    pattern: str


@dataclass(frozen=True)
class NamespaceRequest:
    """namespace = "NAMESPACE"   (RFC 9051 section 6.3.10)"""


def parse_list(args: Args) -> ListRequest:
    extended = False
    select: list[str] = []
    if isinstance(args.peek(), ArgList):
        extended = True
        opts = args.list("selection options")
        while not opts.at_end():
            opt = opts.keyword("a selection option")
            if opt not in SELECT_OPTIONS:
                raise args.error(f"unknown LIST selection option {opt}")
            if opt not in select:
                select.append(opt)
        if "RECURSIVEMATCH" in select and not set(select) - {"RECURSIVEMATCH", "REMOTE"}:
            # RFC 5258 section 3.1: RECURSIVEMATCH alone (or only with REMOTE) is BAD.
            raise args.error("RECURSIVEMATCH requires another selection option")
    reference = args.list_mailbox("a reference name")
    patterns: list[str] = []
    if isinstance(args.peek(), ArgList):
        extended = True
        pats = args.list("a list of mailbox patterns")
        while not pats.at_end():
            patterns.append(pats.list_mailbox())
        if not patterns:
            raise args.error("empty pattern list")
    else:
        patterns.append(args.list_mailbox())
    returns: list[str] = []
    status = None
    if not args.at_end():
        if args.keyword("RETURN") != "RETURN":
            raise args.error("expected RETURN after the mailbox pattern")
        extended = True
        opts = args.list("return options")
        while not opts.at_end():
            opt = opts.keyword("a return option")
            if opt not in RETURN_OPTIONS:
                raise args.error(f"unknown LIST return option {opt}")
            if opt == "STATUS":
                if status is not None:
                    raise args.error("STATUS given twice")
                status = parse_status_items(opts)
            if opt not in returns:
                returns.append(opt)
    args.end()
    return ListRequest(reference, tuple(patterns), tuple(select), tuple(returns), status, extended)


def parse_lsub(args: Args) -> LsubRequest:
    reference = args.list_mailbox("a reference name")
    pattern = args.list_mailbox()
    args.end()
    return LsubRequest(reference, pattern)


def parse_namespace(args: Args) -> NamespaceRequest:
    args.end()
    return NamespaceRequest()
