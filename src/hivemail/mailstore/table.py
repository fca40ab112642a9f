"""A mailbox's message metadata in columns: what a selected IMAP session
holds, at a few dozen bytes per message instead of an object each.

A 100,000-message mailbox is 100,000 rows of UID, MODSEQ, flags, size and
dates. As :class:`MessageMeta` objects that is ~75 MB per session and
seconds of allocation; as arrays it is ~3 MB and a memcpy. Flags are stored
as an index into the table's few distinct flag sets (a mailbox has a
handful of combinations), so FLAGS can be formatted once per combination
and a flag search is a scan of one small-integer column.

Rows are kept in ascending UID order; row ``i`` is sequence number ``i + 1``
for a view that has numbered every row.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone

from hivemail.mailstore.types import MessageMeta

_zones: dict[int, timezone] = {0: timezone.utc}


def _zone(minutes: int) -> timezone:
    zone = _zones.get(minutes)
    if zone is None:
        zone = _zones[minutes] = timezone(timedelta(minutes=minutes))
    return zone


def _offset_minutes(when: datetime) -> int:
    off = when.utcoffset()
    return int(off.total_seconds() // 60) if off is not None else 0


class MessageTable:
    __slots__ = ("uids", "modseqs", "fsids", "sizes", "idates", "itzs", "sdates", "blob_ids",
                 "flagsets", "_fsindex")

    def __init__(self) -> None:
        self.uids = array("I")
        self.modseqs = array("Q")
        self.fsids = array("I")        # index into flagsets
        self.sizes = array("Q")
        self.idates = array("q")       # INTERNALDATE, Unix seconds
        self.itzs = array("h")         # its zone, minutes east of UTC
        self.sdates = array("q")       # SAVEDATE, Unix seconds (UTC)
        self.blob_ids: list[str] = []
        self.flagsets: list[frozenset[str]] = []
        self._fsindex: dict[frozenset[str], int] = {}

    # -- building ----------------------------------------------------------------
    def flagset_id(self, flags: frozenset[str]) -> int:
        i = self._fsindex.get(flags)
        if i is None:
            i = self._fsindex[flags] = len(self.flagsets)
            self.flagsets.append(flags)
        return i

    def append_row(self, uid: int, modseq: int, flags: frozenset[str], size: int,
                   idate: int, itz: int, sdate: int, blob_id: str) -> None:
        """Add a row; ``uid`` must be above every UID already present."""
        self.uids.append(uid)
        self.modseqs.append(modseq)
        self.fsids.append(self.flagset_id(flags))
        self.sizes.append(size)
        self.idates.append(idate)
        self.itzs.append(itz)
        self.sdates.append(sdate)
        self.blob_ids.append(blob_id)

    def append_meta(self, m: MessageMeta) -> None:
        self.append_row(m.uid, m.modseq, m.flags, m.size, int(m.internal_date.timestamp()),
                        _offset_minutes(m.internal_date), int(m.save_date.timestamp()), m.blob_id)

    @classmethod
    def from_metas(cls, metas: Iterable[MessageMeta]) -> MessageTable:
        t = cls()
        for m in metas:
            t.append_meta(m)
        return t

    def copy(self) -> MessageTable:
        t = MessageTable.__new__(MessageTable)
        for name in ("uids", "modseqs", "fsids", "sizes", "idates", "itzs", "sdates"):
            setattr(t, name, array(getattr(self, name).typecode, getattr(self, name)))
        t.blob_ids = list(self.blob_ids)
        t.flagsets = list(self.flagsets)
        t._fsindex = dict(self._fsindex)
        return t

    # -- reading -----------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.uids)

    def index(self, uid: int) -> int | None:
        i = bisect.bisect_left(self.uids, uid)
        if i < len(self.uids) and self.uids[i] == uid:
            return i
        return None

    def flags(self, i: int) -> frozenset[str]:
        return self.flagsets[self.fsids[i]]

    def internal_date(self, i: int) -> datetime:
        return datetime.fromtimestamp(self.idates[i], _zone(self.itzs[i]))

    def meta(self, i: int) -> MessageMeta:
        internal = self.internal_date(i)
        return MessageMeta(
            uid=self.uids[i],
            modseq=self.modseqs[i],
            flags=self.flags(i),
            internal_date=internal,
            save_date=datetime.fromtimestamp(self.sdates[i], timezone.utc),
            size=self.sizes[i],
            blob_id=self.blob_ids[i],
        )

    # -- changing ------------------------------------------------------------------
    def set_flags(self, i: int, flags: frozenset[str], modseq: int) -> None:
        self.fsids[i] = self.flagset_id(flags)
        self.modseqs[i] = max(self.modseqs[i], modseq)

    def remove(self, uids: Iterable[int]) -> None:
        """Drop the rows of ``uids`` (those present)."""
        gone = {i for i in (self.index(u) for u in uids) if i is not None}
        if not gone:
            return
        if len(gone) <= 8:
            for i in sorted(gone, reverse=True):
                for col in (self.uids, self.modseqs, self.fsids, self.sizes, self.idates,
                            self.itzs, self.sdates, self.blob_ids):
                    del col[i]
            return
        keep = [i for i in range(len(self.uids)) if i not in gone]
        for name in ("uids", "modseqs", "fsids", "sizes", "idates", "itzs", "sdates"):
            col = getattr(self, name)
            setattr(self, name, array(col.typecode, [col[i] for i in keep]))
        self.blob_ids = [self.blob_ids[i] for i in keep]


class Row:
    """One row read in place: the attributes of :class:`MessageMeta`,
    each read from its column when asked (a date is built only if used)."""

    __slots__ = ("_t", "_i")

    def __init__(self, table: MessageTable, i: int) -> None:
        self._t = table
        self._i = i

    @property
    def uid(self) -> int:
        return self._t.uids[self._i]

    @property
    def modseq(self) -> int:
        return self._t.modseqs[self._i]

    @property
    def flags(self) -> frozenset[str]:
        return self._t.flagsets[self._t.fsids[self._i]]

    @property
    def size(self) -> int:
        return self._t.sizes[self._i]

    @property
    def internal_date(self) -> datetime:
        return self._t.internal_date(self._i)

    @property
    def save_date(self) -> datetime:
        return datetime.fromtimestamp(self._t.sdates[self._i], timezone.utc)

    @property
    def blob_id(self) -> str:
        return self._t.blob_ids[self._i]

    explicit_uidl = None


class MetaView:
    """``view.meta[uid]`` over a table: a mapping-like facade giving a
    :class:`Row` (which reads like a :class:`MessageMeta`)."""

    __slots__ = ("table",)

    def __init__(self, table: MessageTable) -> None:
        self.table = table

    def __getitem__(self, uid: int) -> Row:
        i = self.table.index(uid)
        if i is None:
            raise KeyError(uid)
        return Row(self.table, i)

    def __contains__(self, uid: object) -> bool:
        return isinstance(uid, int) and self.table.index(uid) is not None

    def get(self, uid: int, default=None):
        i = self.table.index(uid)
        return default if i is None else Row(self.table, i)

    def __len__(self) -> int:
        return len(self.table)
