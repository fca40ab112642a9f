"""THREAD algorithms of RFC 5256: ORDEREDSUBJECT and REFERENCES. Pure.

Input is the searched messages in mailbox (sequence-number) order, as
parallel sequences; output is the thread forest as nested pairs
``(number, children)``, where ``number`` is None for a dummy (a parent that
was not searched or is not in the mailbox, RFC 5256 section 4:
``* THREAD ((3)(5))``) and ``children`` a list of such pairs, in order.

Nothing here recurses: a reply chain can be as deep as the mailbox is big.

"Sent date" is RFC 5256 section 2.2's: the caller passes the Date: in UTC
seconds, already replaced by INTERNALDATE where there is none; ties go to
the lower sequence number, which here is the position in the input.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["Node", "ordered_subject", "references"]

Node = tuple  # (int | None, list[Node])


def ordered_subject(numbers: Sequence[int], dates: Sequence[int], subjects: Sequence[str]) -> list[Node]:
    """THREAD=ORDEREDSUBJECT (RFC 5256 section 3): sort by base subject then
    sent date; each run of one subject is a thread whose first message is
    the parent of all the others (no grandchildren); threads ordered by the
    sent date of their first message."""
    order = sorted(range(len(numbers)), key=lambda i: (subjects[i], dates[i], i))
    threads: list[tuple[tuple[int, int], Node]] = []
    prev = None
    for i in order:
        if threads and subjects[i] == prev:
            threads[-1][1][1].append((numbers[i], []))
        else:
            prev = subjects[i]
            threads.append(((dates[i], i), (numbers[i], [])))
    threads.sort(key=lambda t: t[0])
    return [node for _, node in threads]


class _C:
    """A container of the REFERENCES algorithm: a message (``i`` its
    position) or a dummy (``i`` None)."""

    __slots__ = ("i", "rank", "parent", "children")

    def __init__(self, i: int | None, rank: int = -1) -> None:
        self.i = i
        self.rank = rank  # position in (sent date, sequence) order; -1 for a dummy
        self.parent: _C | None = None
        self.children: list[_C] = []


def _would_loop(parent: _C, child: _C) -> bool:
    """Linking ``child`` under ``parent`` makes a loop if ``parent`` is
    ``child`` or one of its descendants."""
    p: _C | None = parent
    while p is not None:
        if p is child:
            return True
        p = p.parent
    return False


def _link(parent: _C, child: _C) -> None:
    child.parent = parent
    parent.children.append(child)


def _unlink(child: _C) -> None:
    parent = child.parent
    if parent is not None:
        parent.children.remove(child)
        child.parent = None


def references(numbers: Sequence[int], dates: Sequence[int], subjects: Sequence[str],
               replies: Sequence[bool], ids: Sequence[str | None],
               refs: Sequence[Sequence[str]]) -> list[Node]:
    """THREAD=REFERENCES (RFC 5256 section 3, steps 1-6). ``subjects`` are
    base subjects in a case-insensitive form, ``replies`` whether the
    original subject was a reply or forward, ``ids`` the normalised
    Message-IDs, ``refs`` each message's references (normalised)."""
    n = len(numbers)
    # Every sibling sort of steps 4 and 6 compares (sent date, sequence
    # number): rank the messages by it once, then compare small ints. The
    # sort is stable, so equal dates stay in sequence order.
    rank = [0] * n
    for r, i in enumerate(sorted(range(n), key=dates.__getitem__)):
        rank[i] = r
    msgs = [_C(i, rank[i]) for i in range(n)]
    by_id: dict[str, _C] = {}
    # (1.A) "If two or more messages have the same Message ID, then only use
    # that Message ID in the first (lowest sequence number) message": the
    # others, like messages without one, get a unique ID, i.e. none here.
    for i in range(n):
        ident = ids[i]
        if ident is not None and ident not in by_id:
            by_id[ident] = msgs[i]

    def container(ident: str) -> _C:
        c = by_id.get(ident)
        if c is None:
            c = by_id[ident] = _C(None)  # "create a dummy message with this ID"
        return c

    for i in range(n):
        me = msgs[i]
        chain = refs[i]
        # (1.A) link the references pairwise; never change an existing
        # parent, never make a loop.
        prev: _C | None = None
        for ident in chain:
            c = container(ident)
            if prev is not None and c.parent is None and not _would_loop(prev, c):
                _link(prev, c)
            prev = c
        # (1.B) the last reference is the parent: break any parent link
        # made by an earlier message's (probably truncated) References.
        _unlink(me)
        if prev is not None and not _would_loop(prev, me):
            _link(prev, me)

    # (2) the parentless are the root's children.
    seen: set[int] = set()
    top: list[_C] = []
    for c in list(msgs) + list(by_id.values()):
        if c.parent is None and id(c) not in seen:
            seen.add(id(c))
            top.append(c)

    top = _prune(top)

    def key(c: _C) -> int:
        # A dummy sorts as its first child (steps 4 and 6); after pruning,
        # only top-level containers are dummies and their children are messages.
        return c.children[0].rank if c.rank < 0 else c.rank

    # (4) sort the top level (each dummy's children first).
    for c in top:
        if c.i is None:
            c.children.sort(key=key)
    top.sort(key=key)

    top = _merge_subjects(top, subjects, replies)

    # (6) sort every set of siblings, deepest first. Each non-top set holds
    # only messages, so the order of the sorts below the top does not matter.
    stack = list(top)
    while stack:
        c = stack.pop()
        if c.children:
            c.children.sort(key=key)
            stack.extend(c.children)
    top.sort(key=key)
    forest = _nodes(top, numbers)
    # Break the parent <-> child cycles so the containers are freed now, by
    # reference counting, not by a later pass of the cyclic collector.
    for c in msgs:
        c.parent = None
    for c in by_id.values():
        c.parent = None
    return forest


def _prune(top: list[_C]) -> list[_C]:
    """(3) Delete dummies: one without children goes; one with children is
    replaced by them, except that children are not promoted to the root
    unless there is only one."""
    # Post-order without recursion: children are pruned before their parent.
    order: list[_C] = []
    stack = list(top)
    while stack:
        c = stack.pop()
        order.append(c)
        stack.extend(c.children)
    for c in reversed(order):
        if not c.children:
            continue
        kept: list[_C] = []
        for child in c.children:
            if child.i is None:
                for g in child.children:  # already pruned: all messages
                    g.parent = c
                kept.extend(child.children)
            else:
                kept.append(child)
        c.children = kept
    out: list[_C] = []
    for c in top:
        if c.i is not None or len(c.children) > 1:
            out.append(c)
        elif c.children:
            only = c.children[0]
            only.parent = None
            out.append(only)
    return out


def _merge_subjects(top: list[_C], subjects: Sequence[str], replies: Sequence[bool]) -> list[_C]:
    """(5) Gather top-level threads with the same base subject."""

    def thread_subject(c: _C) -> str:
        return subjects[c.children[0].i if c.i is None else c.i]

    def is_reply(c: _C) -> bool:
        return c.i is not None and replies[c.i]

    table: dict[str, _C] = {}
    for c in top:  # (5.B)
        subject = thread_subject(c)
        if not subject:
            continue
        old = table.get(subject)
        if old is None:
            table[subject] = c
        elif old.i is not None and (c.i is None or (is_reply(old) and not is_reply(c))):
            table[subject] = c

    out: list[_C] = []
    where: dict[int, int] = {}  # id(container) -> its index in ``out``
    for c in top:  # (5.C)
        if c.parent is not None:
            continue  # already put under a new dummy below
        subject = thread_subject(c)
        old = table.get(subject) if subject else None
        if old is None or old is c:
            where[id(c)] = len(out)
            out.append(c)
        elif old.i is None and c.i is None:
            for g in c.children:
                g.parent = old
            old.children.extend(c.children)
            c.children = []
        elif old.i is None or (is_reply(c) and not is_reply(old)):
            _link(old, c)
        else:
            # A new dummy takes the table message's place at the root (or
            # the place it would have had: it may come later in this loop).
            dummy = _C(None)
            if id(old) in where:
                out[where[id(old)]] = dummy
                where[id(dummy)] = where.pop(id(old))
            else:
                where[id(dummy)] = len(out)
                out.append(dummy)
            _link(dummy, old)
            _link(dummy, c)
            table[subject] = dummy
    return out


def _nodes(top: list[_C], numbers: Sequence[int]) -> list[Node]:
    """Containers -> nested (number, children) pairs, without recursion."""
    result: list[Node] = []
    stack: list[tuple[_C, list]] = [(c, result) for c in reversed(top)]
    while stack:
        c, into = stack.pop()
        node = (None if c.i is None else numbers[c.i], [])
        into.append(node)
        for child in reversed(c.children):
            stack.append((child, node[1]))
    return result
