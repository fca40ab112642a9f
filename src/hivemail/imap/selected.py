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

import bisect
from dataclasses import dataclass, field

from hivemail.mailstore import Changes, MailboxSnapshot, MessageMeta


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
    uids: list[int]                        # ascending; index + 1 = sequence number
    meta: dict[int, MessageMeta]           # uid -> metadata as this session last saw it
    modseq: int                            # changes up to here are reflected
    uidnext: int
    # UIDs the store has expunged that the client has not been told about:
    # they keep their sequence numbers until reported.
    pending_expunge: set[int] = field(default_factory=set)
    # Flag changes this session made itself and has already answered with
    # FETCH (or suppressed with .SILENT): not to be echoed back.
    own_modseqs: set[int] = field(default_factory=set)
    recent: set[int] = field(default_factory=set)

    @classmethod
    def from_snapshot(cls, snap: MailboxSnapshot, read_only: bool) -> SelectedView:
        uids = [m.uid for m in snap.messages]
        return cls(
            mailbox_id=snap.mailbox.id,
            uidvalidity=snap.mailbox.uidvalidity,
            read_only=read_only,
            uids=uids,
            meta={m.uid: m for m in snap.messages},
            modseq=snap.mailbox.highestmodseq,
            uidnext=snap.mailbox.uidnext,
        )

    # -- numbering ---------------------------------------------------------
    @property
    def exists(self) -> int:
        return len(self.uids)

    def seq_of(self, uid: int) -> int | None:
        i = bisect.bisect_left(self.uids, uid)
        if i < len(self.uids) and self.uids[i] == uid:
            return i + 1
        return None

    def uid_of(self, seq: int) -> int:
        return self.uids[seq - 1]

    def is_expunged(self, uid: int) -> bool:
        return uid in self.pending_expunge

    # -- updates -----------------------------------------------------------
    def apply(self, changes: Changes, allow_expunge: bool) -> list[Update]:
        """Fold ``changes`` into the view and return what to tell the client,
        in the order to send it."""
        out: list[Update] = []
        for u in changes.flag_updates:
            if u.modseq in self.own_modseqs or u.uid not in self.meta:
                continue
            old = self.meta[u.uid]
            if old.flags == u.flags and old.modseq >= u.modseq:
                continue
            self.meta[u.uid] = _with_flags(old, u.flags, u.modseq)
            seq = self.seq_of(u.uid)
            if seq is not None and u.uid not in self.pending_expunge:
                out.append(FlagsChanged(seq, u.uid, u.flags, u.modseq))
        self.own_modseqs = {m for m in self.own_modseqs if m > changes.highestmodseq}

        for uid in changes.expunged:
            if uid in self.meta:
                self.pending_expunge.add(uid)
        if allow_expunge and self.pending_expunge:
            out.extend(self.flush_expunges())

        new = [m for m in changes.appended if m.uid not in self.meta and m.uid not in changes.expunged]
        if new:
            for m in sorted(new, key=lambda m: m.uid):
                # New UIDs are always above every UID already numbered.
                if self.uids and m.uid < self.uids[-1]:
                    bisect.insort(self.uids, m.uid)
                else:
                    self.uids.append(m.uid)
                self.meta[m.uid] = m
            out.append(Exists(len(self.uids)))
        self.modseq = max(self.modseq, changes.highestmodseq)
        self.uidnext = max(self.uidnext, changes.uidnext)
        return out

    def flush_expunges(self) -> list[Expunge]:
        """Renumber for every pending expunge, highest sequence first."""
        out = []
        for uid in sorted(self.pending_expunge, reverse=True):
            seq = self.seq_of(uid)
            if seq is None:
                continue
            out.append(Expunge(seq, uid))
            del self.uids[seq - 1]
            self.meta.pop(uid, None)
            self.recent.discard(uid)
        self.pending_expunge.clear()
        return out

    def note_own_flags(self, meta_updates: list[tuple[int, frozenset[str], int]]) -> None:
        """Record flag changes this session made (uid, flags, modseq)."""
        for uid, flags, modseq in meta_updates:
            if uid in self.meta:
                self.meta[uid] = _with_flags(self.meta[uid], flags, modseq)
            self.own_modseqs.add(modseq)

    def remove_own_expunges(self, uids: list[int]) -> list[Expunge]:
        """This session expunged ``uids`` itself: number them out now."""
        self.pending_expunge.update(u for u in uids if u in self.meta)
        return self.flush_expunges()


def _with_flags(m: MessageMeta, flags: frozenset[str], modseq: int) -> MessageMeta:
    return MessageMeta(
        uid=m.uid,
        modseq=modseq,
        flags=flags,
        internal_date=m.internal_date,
        save_date=m.save_date,
        size=m.size,
        blob_id=m.blob_id,
        explicit_uidl=m.explicit_uidl,
    )
