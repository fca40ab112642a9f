"""A session's view of its selected mailbox: sequence numbers <-> UIDs, and
the untagged updates owed to the client.

Storage speaks UIDs and change records; only the session knows which
sequence numbers its client believes in (DESIGN.md, principle 3). This view
turns :class:`~hivemail.mailstore.Changes` into EXISTS / EXPUNGE / FETCH at
the moments the RFC allows:

* EXPUNGE may not be sent while a FETCH, STORE or SEARCH (non-UID) is in
  progress, nor after one with no command between, "because the client
  would otherwise have no way to know which message a sequence number
  refers to" (RFC 9051 section 7.5.1, RFC 3501 section 7.4.1). The session
  asks for updates with ``allow_expunge=False`` then, and expunged messages
  stay numbered (their sequence numbers still valid) until a later command.
* EXISTS and FETCH (FLAGS) may be sent at any time.

Each EXPUNGE is numbered against the state left by the one before it (RFC
9051 section 7.5.1); sending them highest sequence number first keeps the
numbers of those still to come unchanged, which is easiest for clients to
follow.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hivemail.mailstore import Changes, MailboxInfo, MailboxSnapshot
from hivemail.mailstore.table import MessageTable, MetaView


@dataclass(frozen=True)
class Exists:
    count: int


@dataclass(frozen=True)
class Expunge:
    seq: int
    uid: int


@dataclass(frozen=True)
class FlagsChanged:
    seq: int
    uid: int
    flags: frozenset[str]
    modseq: int


Update = Exists | Expunge | FlagsChanged


@dataclass
class SelectedView:
    mailbox_id: int
    uidvalidity: int
    read_only: bool
    table: MessageTable                    # ascending UIDs; row i = sequence number i + 1
    modseq: int                            # changes up to here are reflected
    uidnext: int
    # UIDs the store has expunged that the client has not been told about:
    # they keep their sequence numbers until reported.
    pending_expunge: set[int] = field(default_factory=set)
    # Flag changes this session made itself and has already answered with
    # FETCH (or suppressed with .SILENT): not to be echoed back.
    own_modseqs: set[int] = field(default_factory=set)
    recent: set[int] = field(default_factory=set)
    # The table may be shared with other sessions (the worker's mailbox
    # cache hands out one table to every SELECT): copy it before the first
    # change, so a SELECT costs no copy of 100,000 rows.
    shared: bool = False

    @classmethod
    def from_table(cls, mailbox: MailboxInfo, table: MessageTable, read_only: bool, shared: bool = False) -> SelectedView:
        return cls(
            mailbox_id=mailbox.id,
            uidvalidity=mailbox.uidvalidity,
            read_only=read_only,
            table=table,
            modseq=mailbox.highestmodseq,
            uidnext=mailbox.uidnext,
            shared=shared,
        )

    def _own(self) -> MessageTable:
        """The table, copied first if it is shared."""
        if self.shared:
            self.table = self.table.copy()
            self.shared = False
        return self.table

    @classmethod
    def from_snapshot(cls, snap: MailboxSnapshot, read_only: bool) -> SelectedView:
        return cls.from_table(snap.mailbox, MessageTable.from_metas(snap.messages), read_only)

    # -- numbering ---------------------------------------------------------
    @property
    def uids(self):
        """The UIDs in sequence-number order (an array: index, slice, bisect)."""
        return self.table.uids

    @property
    def meta(self) -> MetaView:
        """``meta[uid]`` -> MessageMeta, built on demand from the table."""
        return MetaView(self.table)

    @property
    def exists(self) -> int:
        return len(self.table)

    def seq_of(self, uid: int) -> int | None:
        i = self.table.index(uid)
        return None if i is None else i + 1

    def uid_of(self, seq: int) -> int:
        return self.table.uids[seq - 1]

    def flags_of(self, uid: int) -> frozenset[str] | None:
        i = self.table.index(uid)
        return None if i is None else self.table.flags(i)

    def is_expunged(self, uid: int) -> bool:
        return uid in self.pending_expunge

    # -- updates -----------------------------------------------------------
    def apply(self, changes: Changes, allow_expunge: bool) -> list[Update]:
        """Fold ``changes`` into the view and return what to tell the client,
        in the order to send it."""
        out: list[Update] = []
        if changes.flag_updates or changes.expunged or changes.appended:
            self._own()
        table = self.table
        for u in changes.flag_updates:
            if u.modseq in self.own_modseqs:
                continue
            i = table.index(u.uid)
            if i is None:
                continue
            if table.modseqs[i] >= u.modseq:
                # Not newer than what the view holds (a row never goes back in
                # MODSEQ): a stale read must not undo this session's own STORE.
                continue
            table.set_flags(i, u.flags, u.modseq)
            if u.uid not in self.pending_expunge:
                out.append(FlagsChanged(i + 1, u.uid, u.flags, u.modseq))
        self.own_modseqs = {m for m in self.own_modseqs if m > changes.highestmodseq}

        for uid in changes.expunged:
            if table.index(uid) is not None:
                self.pending_expunge.add(uid)
        if allow_expunge and self.pending_expunge:
            out.extend(self.flush_expunges())

        expunged = set(changes.expunged)
        new = sorted(
            (m for m in changes.appended if m.uid not in expunged and table.index(m.uid) is None),
            key=lambda m: m.uid,
        )
        if new:
            if table.uids and new[0].uid < table.uids[-1]:
                # Never expected (UIDs only grow), but keep the order right.
                rows = [table.meta(i) for i in range(len(table))] + new
                self.table = table = MessageTable.from_metas(sorted(rows, key=lambda m: m.uid))
            else:
                for m in new:
                    table.append_meta(m)
            out.append(Exists(len(table)))
        self.modseq = max(self.modseq, changes.highestmodseq)
        self.uidnext = max(self.uidnext, changes.uidnext)
        return out

    def flush_expunges(self) -> list[Expunge]:
        """Renumber for every pending expunge, highest sequence first."""
        out = []
        for uid in sorted(self.pending_expunge, reverse=True):
            i = self.table.index(uid)
            if i is not None:
                out.append(Expunge(i + 1, uid))
        # Each EXPUNGE above is numbered as if the higher ones were already
        # gone: removing them highest first keeps lower numbers unchanged.
        self._own().remove(self.pending_expunge)
        self.recent.difference_update(self.pending_expunge)
        self.pending_expunge.clear()
        return out

    def note_own_flags(self, meta_updates: list[tuple[int, frozenset[str], int]]) -> None:
        """Record flag changes this session made (uid, flags, modseq)."""
        for uid, flags, modseq in meta_updates:
            i = self.table.index(uid)
            if i is not None:
                self._own().set_flags(i, flags, modseq)
            self.own_modseqs.add(modseq)

    def remove_own_expunges(self, uids: list[int]) -> list[Expunge]:
        """This session expunged ``uids`` itself: number them out now."""
        self.pending_expunge.update(u for u in uids if self.table.index(u) is not None)
        return self.flush_expunges()
