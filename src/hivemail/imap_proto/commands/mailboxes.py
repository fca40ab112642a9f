"""CREATE DELETE RENAME SUBSCRIBE UNSUBSCRIBE  (RFC 9051 sections 6.3.4-6.3.8, RFC 6154)."""

from __future__ import annotations

from dataclasses import dataclass

from ..tokens import Args

__all__ = [
    "CreateRequest",
    "DeleteRequest",
    "RenameRequest",
    "SubscribeRequest",
    "UnsubscribeRequest",
    "parse_create",
    "parse_delete",
    "parse_rename",
    "parse_subscribe",
    "parse_unsubscribe",
]


@dataclass(frozen=True)
class CreateRequest:
    """create = "CREATE" SP mailbox [create-params]        (RFC 4466)
    create-param =/ "USE" SP "(" [use-attr *(SP use-attr)] ")"   (RFC 6154 section 6)

    ``special_use`` holds the ``\\X`` attributes as sent (``\\Drafts``...).
    """

    mailbox: str
    special_use: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeleteRequest:
    """delete = "DELETE" SP mailbox"""

    mailbox: str


@dataclass(frozen=True)
class RenameRequest:
    """rename = "RENAME" SP mailbox SP mailbox"""

    existing: str
    new: str


@dataclass(frozen=True)
class SubscribeRequest:
    """subscribe = "SUBSCRIBE" SP mailbox"""

    mailbox: str


@dataclass(frozen=True)
class UnsubscribeRequest:
    """unsubscribe = "UNSUBSCRIBE" SP mailbox"""

    mailbox: str


# use-attr = "\All" / "\Archive" / "\Drafts" / "\Flagged" / "\Junk" /
#            "\Sent" / "\Trash" / use-attr-ext          (RFC 6154 section 6)
_USE_ATTRS = {a.lower(): a for a in ("\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash")}


def parse_create(args: Args) -> CreateRequest:
    mailbox = args.mailbox()
    special: list[str] = []
    if not args.at_end():
        # create-params = SP "(" create-param *( SP create-param) ")"
        params = args.list("creation parameters (USE (...))")
        args.end()
        while not params.at_end():
            name = params.keyword("a creation parameter")
            if name != "USE":
                raise args.error(f"unknown creation parameter {name}")
            uses = params.list("a list of special-use attributes")
            while not uses.at_end():
                flag = uses.flag("a special-use attribute")
                if not flag.startswith("\\"):
                    raise args.error(f"special-use attribute must start with \\, got {flag!r}")
                special.append(_USE_ATTRS.get(flag.lower(), flag))
    return CreateRequest(mailbox, tuple(special))


def parse_delete(args: Args) -> DeleteRequest:
    mailbox = args.mailbox()
    args.end()
    return DeleteRequest(mailbox)


def parse_rename(args: Args) -> RenameRequest:
    existing, new = args.mailbox("the existing mailbox name"), args.mailbox("the new mailbox name")
    args.end()
    return RenameRequest(existing, new)


def parse_subscribe(args: Args) -> SubscribeRequest:
    mailbox = args.mailbox()
    args.end()
    return SubscribeRequest(mailbox)


def parse_unsubscribe(args: Args) -> UnsubscribeRequest:
    mailbox = args.mailbox()
    args.end()
    return UnsubscribeRequest(mailbox)
