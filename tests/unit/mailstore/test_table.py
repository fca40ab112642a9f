"""The columnar message table against a plain list of MessageMeta."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from hivemail.mailstore.table import MessageTable, MetaView
from hivemail.mailstore.types import MessageMeta

ZONE = timezone(timedelta(hours=-7))
FLAGS = [frozenset(), frozenset({"\\Seen"}), frozenset({"\\Seen", "\\Flagged"}), frozenset({"$Label1"})]


def meta(uid: int, flags=frozenset(), modseq: int = 1) -> MessageMeta:
    when = datetime(2024, 7, 14, 2, 44, 25, tzinfo=ZONE) + timedelta(minutes=uid)
    return MessageMeta(uid, modseq, flags, when, datetime(2024, 7, 14, tzinfo=timezone.utc), 100 + uid, f"blob{uid}")


def as_metas(table: MessageTable) -> list[MessageMeta]:
    return [table.meta(i) for i in range(len(table))]


def test_rows_read_back_as_they_went_in():
    metas = [meta(u, FLAGS[n], modseq=u) for n, u in enumerate((1, 2, 5, 9))]
    t = MessageTable.from_metas(metas)
    assert as_metas(t) == metas
    assert t.internal_date(0).utcoffset() == timedelta(hours=-7)
    assert len(t.flagsets) == 4  # one entry per distinct flag set
    view = MetaView(t)
    assert view[5].size == 105 and view[5].blob_id == "blob5" and 5 in view and 3 not in view
    assert view[9].flags == FLAGS[3] and view.get(3) is None


def test_copy_is_independent():
    t = MessageTable.from_metas([meta(1), meta(2)])
    c = t.copy()
    c.set_flags(0, FLAGS[2], 7)
    c.remove([2])
    assert as_metas(t) == [meta(1), meta(2)]
    assert len(c) == 1 and c.flags(0) == FLAGS[2] and c.modseqs[0] == 7


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["add", "remove", "flags"]), st.integers(1, 40), st.integers(0, 3)), max_size=60))
def test_random_changes_match_a_list_model(ops):
    model: dict[int, MessageMeta] = {}
    t = MessageTable()
    next_uid = 1
    modseq = 1
    for op, n, f in ops:
        modseq += 1
        if op == "add":
            m = meta(next_uid, FLAGS[f], modseq)
            model[next_uid] = m
            t.append_meta(m)
            next_uid += 1
        elif op == "remove":
            gone = [u for u in list(model) if u % n == 0][: n % 12]
            for u in gone:
                del model[u]
            t.remove(gone)
        elif model:
            uid = sorted(model)[n % len(model)]
            old = model[uid]
            model[uid] = MessageMeta(uid, modseq, FLAGS[f], old.internal_date, old.save_date, old.size, old.blob_id)
            t.set_flags(t.index(uid), FLAGS[f], modseq)
    assert as_metas(t) == [model[u] for u in sorted(model)]
    assert list(t.uids) == sorted(model)
