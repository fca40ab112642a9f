"""LIST, LSUB, NAMESPACE (RFC 9051 6.3.9, RFC 5258 LIST-EXTENDED, RFC 5819
LIST-STATUS, RFC 6154 SPECIAL-USE, RFC 3348 CHILDREN, RFC 2342)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hivemail.imap.handlers.status import status_items
from hivemail.imap_proto import ListItem, Namespace, Tagged
from hivemail.mailstore import SEPARATOR, MailError


@dataclass
class Node:
    """A name in the account's hierarchy; ``exists`` is False for a parent
    that only exists because it has children (after DELETE of it)."""

    name: str
    exists: bool = False
    subscribed: bool = False
    special_use: str | None = None
    children: set[str] = field(default_factory=set)
    subscribed_children: bool = False


def hierarchy(mailboxes) -> dict[str, Node]:
    nodes: dict[str, Node] = {}
    for mb in mailboxes:
        node = nodes.setdefault(mb.name, Node(mb.name))
        node.exists, node.subscribed, node.special_use = True, mb.subscribed, mb.special_use
        parts = mb.name.split(SEPARATOR)
        for i in range(1, len(parts)):
            parent = nodes.setdefault(SEPARATOR.join(parts[:i]), Node(SEPARATOR.join(parts[:i])))
            parent.children.add(mb.name)
            if mb.subscribed:
                parent.subscribed_children = True
    return nodes


def pattern_regex(reference: str, pattern: str) -> re.Pattern[str]:
    """RFC 9051 6.3.9: "*" matches anything, "%" anything but the separator;
    the reference is prepended. INBOX matches case-insensitively."""
    if reference and pattern.startswith(SEPARATOR):
        full = reference.rstrip(SEPARATOR) + pattern
    else:
        full = reference + pattern
    out = []
    for ch in full:
        if ch == "*":
            out.append(".*")
        elif ch == "%":
            out.append(f"[^{re.escape(SEPARATOR)}]*")
        else:
            out.append(re.escape(ch))
    body = "".join(out)
    # "inbox", "INBOX/x": the INBOX prefix is case-insensitive.
    if re.match(r"(?i)inbox", full) and (len(full) == 5 or full[5:6] in (SEPARATOR, "*", "%")):
        body = "(?i:INBOX)" + "".join(out[5:])
    return re.compile(body + r"\Z", re.S)


def _attributes(node: Node, *, extended: bool, rev2: bool, want_subscribed: bool, want_special: bool) -> list[str]:
    attrs: list[str] = []
    if not node.exists:
        attrs.append("\\NonExistent" if (extended or rev2) else "\\Noselect")
    attrs.append("\\HasChildren" if node.children else "\\HasNoChildren")
    if want_subscribed and node.subscribed:
        attrs.append("\\Subscribed")
    if want_special and node.special_use:
        attrs.append(node.special_use)
    return attrs


async def list_(session, tag: str, request) -> Tagged:
    account = session.state.account.name
    patterns = request.patterns
    if len(patterns) == 1 and patterns[0] == "" and not request.extended:
        # RFC 9051 6.3.9: an empty pattern asks for the separator and root.
        session.send(ListItem("", SEPARATOR, ("\\Noselect",)))
        return Tagged.ok(tag, "LIST completed")
    nodes = hierarchy(await session.store.list_mailboxes(account))
    select = {o.upper() for o in request.select_options}
    returns = {o.upper() for o in request.return_options}
    only_subscribed = "SUBSCRIBED" in select
    recursive = "RECURSIVEMATCH" in select
    only_special = "SPECIAL-USE" in select
    regexes = [pattern_regex(request.reference, p) for p in patterns if p != ""]
    for name in sorted(nodes, key=lambda n: (n.split(SEPARATOR)[0] != "INBOX", n)):
        node = nodes[name]
        if not any(r.match(name) for r in regexes):
            continue
        child_info: tuple[str, ...] = ()
        if only_subscribed:
            if not node.subscribed:
                # RFC 5258 3.5: with RECURSIVEMATCH, a parent of subscribed
                # children is returned with CHILDINFO ("SUBSCRIBED").
                if not (recursive and node.subscribed_children):
                    continue
                child_info = ("SUBSCRIBED",)
            elif recursive and node.subscribed_children:
                child_info = ("SUBSCRIBED",)
        if only_special and not node.special_use:
            continue
        attrs = _attributes(
            node,
            extended=request.extended,
            rev2=session.rev2,
            want_subscribed=only_subscribed or "SUBSCRIBED" in returns,
            # RFC 6154 2: the attributes may always be returned; Dovecot does.
            want_special=True,
        )
        session.send(ListItem(name, SEPARATOR, tuple(attrs), child_info=child_info))
        if request.status is not None and node.exists:
            try:
                session.send(await status_items(session, name, request.status))
            except MailError:
                pass  # gone meanwhile: RFC 5819 says omit its STATUS
    return Tagged.ok(tag, "LIST completed")


async def lsub(session, tag: str, request) -> Tagged:
    """IMAP4rev1 LSUB (RFC 3501 6.3.9): subscribed names; a parent that is
    not subscribed but matches "%" through subscribed children is shown
    with \\Noselect."""
    account = session.state.account.name
    nodes = hierarchy(await session.store.list_mailboxes(account))
    regex = pattern_regex(request.reference, request.pattern)
    for name in sorted(nodes, key=lambda n: (n.split(SEPARATOR)[0] != "INBOX", n)):
        node = nodes[name]
        if not regex.match(name):
            continue
        if node.subscribed:
            session.send(ListItem(name, SEPARATOR, (), kind="LSUB"))
        elif node.subscribed_children and "%" in request.pattern:
            session.send(ListItem(name, SEPARATOR, ("\\Noselect",), kind="LSUB"))
    return Tagged.ok(tag, "LSUB completed")


async def namespace(session, tag: str, request) -> Tagged:
    session.send(Namespace(personal=(("", SEPARATOR),), other=None, shared=None))
    return Tagged.ok(tag, "NAMESPACE completed")
