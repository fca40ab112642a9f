"""The embedded store's full-text search index (``search_text``,
``update_search_index``): kept in step with delivery, APPEND, COPY,
expunge and blob deletion, exact for non-ASCII text, and equal to the
reference scan (``search.matches``) for random mailboxes and queries,
whatever part of the mailbox is indexed yet."""

from __future__ import annotations

import asyncio
import base64
import fcntl
import os
import sqlite3
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hivemail.mailstore import search as s
from hivemail.mailstore.embedded import store as store_module
from hivemail.mailstore.embedded.store import EmbeddedStore
from hivemail.mailstore.types import FlagMode, Recipient
from hivemail.mime import MessageAnalysis, analyse, normalise_crlf

ALICE = "alice@example.org"


def msg(subject: str = "hello", body: str = "plain body", frm: str = "Ann <ann@example.com>",
        headers: str = "", ctype: str = "text/plain; charset=utf-8") -> bytes:
    return normalise_crlf(
        f"From: {frm}\nTo: bob@example.org\nSubject: {subject}\n{headers}Content-Type: {ctype}\n\n{body}\n"
        .encode())


def run(path, body, **kwargs):
    kwargs.setdefault("fsync", False)
    kwargs.setdefault("background_index", False)

    async def main():
        store = EmbeddedStore(path, **kwargs)
        await store.open()
        try:
            return await body(store)
        finally:
            await store.close()
    return asyncio.run(main())


async def add(store, raw: bytes, mailbox: str = "INBOX", flags=()) -> int:
    result = await store.append(ALICE, mailbox, raw, analyse(raw).to_bytes(), flags)
    return result.uid


async def hits(store, mailbox_id: int, key) -> tuple[set[int], set[int]]:
    found = await store.search_text(mailbox_id, [key])
    return set(found.hits[0]), set(found.unindexed)


def sql(path, query, *args):
    conn = sqlite3.connect(os.path.join(path, "index.sqlite3"))
    try:
        return conn.execute(query, args).fetchall()
    finally:
        conn.close()


def test_indexed_after_delivery_not_on_it(tmp_path):
    """Delivery only stores; the index catches up afterwards, and until then
    search_text names the message as unindexed rather than missing it."""
    async def body(store):
        await store.create_account(ALICE, "h")
        uid = await add(store, msg(body="the quokkafjord42 word"))
        [res] = await store.deliver([Recipient(ALICE, "INBOX")], msg(subject="second"),
                                    analyse(msg(subject="second")).to_bytes())
        box = await store.get_mailbox(ALICE, "INBOX")
        assert await hits(store, box.id, s.Body("QuokkaFjord42")) == (set(), {uid, res.uid})
        assert await store.update_search_index() == 2
        assert await store.update_search_index() == 0
        assert await hits(store, box.id, s.Body("QuokkaFjord42")) == ({uid}, set())
        assert await hits(store, box.id, s.Header("subject", "SECOND")) == ({res.uid}, set())
        assert await hits(store, box.id, s.Text("subject: sec")) == ({res.uid}, set())
        assert await hits(store, box.id, s.Body("second")) == (set(), set())
    run(str(tmp_path / "s"), body)


def test_background_indexer_catches_up_by_itself(tmp_path):
    async def body(store):
        await store.create_account(ALICE, "h")
        uid = await add(store, msg(body="background words"))
        box = await store.get_mailbox(ALICE, "INBOX")
        for _ in range(100):
            found, pending = await hits(store, box.id, s.Body("background"))
            if not pending:
                break
            await asyncio.sleep(0.05)
        assert (found, pending) == ({uid}, set())
    run(str(tmp_path / "s"), body, background_index=True)


def test_copy_shares_the_index_row_and_expunge_drops_it_with_the_blob(tmp_path):
    path = str(tmp_path / "s")

    async def body(store):
        await store.create_account(ALICE, "h")
        uid = await add(store, msg(body="shared needle text"))
        other = await add(store, msg(body="something else"))
        assert await store.update_search_index() == 2
        inbox = await store.get_mailbox(ALICE, "INBOX")
        archive = await store.get_mailbox(ALICE, "Archive")
        [(_, copied)] = await store.copy(inbox.id, [uid], ALICE, "Archive")
        assert await store.update_search_index() == 0  # nothing new to index
        assert await hits(store, archive.id, s.Body("needle")) == ({copied}, set())
        # The original goes; the copy still holds the blob and its index row.
        await store.store_flags(inbox.id, [uid], FlagMode.ADD, ["\\Deleted"])
        await store.expunge(inbox.id)
        assert await hits(store, inbox.id, s.Body("needle")) == (set(), set())
        assert await hits(store, archive.id, s.Body("needle")) == ({copied}, set())
        await store.store_flags(archive.id, [copied], FlagMode.ADD, ["\\Deleted"])
        await store.expunge(archive.id)
        await store.store_flags(inbox.id, [other], FlagMode.ADD, ["\\Seen"])  # a write: collects garbage
        assert sql(path, "SELECT count(*) FROM search_dead") == [(1,)]
        await store.update_search_index()
        assert sql(path, "SELECT count(*) FROM search_dead") == [(0,)]
        assert sql(path, "SELECT count(*) FROM search_doc") == [(1,)]
        assert await hits(store, archive.id, s.Body("needle")) == (set(), set())
    run(path, body)


def test_a_blob_delivered_again_after_deletion_is_indexed_again(tmp_path):
    async def body(store):
        await store.create_account(ALICE, "h")
        raw = msg(body="phoenix text")
        uid = await add(store, raw)
        await store.update_search_index()
        box = await store.get_mailbox(ALICE, "INBOX")
        await store.store_flags(box.id, [uid], FlagMode.ADD, ["\\Deleted"])
        await store.expunge(box.id)
        again = await add(store, raw)  # the same bytes: the same blob id
        assert await hits(store, box.id, s.Body("phoenix")) == (set(), {again})
        assert await store.update_search_index() == 1
        assert await hits(store, box.id, s.Body("phoenix")) == ({again}, set())
    run(str(tmp_path / "s"), body)


CJK = "关于邮件服务器的配置说明：请检查邮件系统日志"


def test_cjk_substrings_inside_a_longer_run(tmp_path):
    async def body(store):
        await store.create_account(ALICE, "h")
        uid = await add(store, msg(subject=f"=?utf-8?b?{base64.b64encode(CJK.encode()).decode()}?=",
                                   body=CJK * 2))
        await add(store, msg(subject="plain", body="邮 件 separated"))
        await store.update_search_index()
        box = await store.get_mailbox(ALICE, "INBOX")
        for needle in ("邮件系统", "服务器的配", "日志关于"):  # the last spans the two copies
            assert s.indexable(s.Body(needle))
            assert await hits(store, box.id, s.Body(needle)) == ({uid}, set())
        assert await hits(store, box.id, s.Header("subject", "件服务")) == ({uid}, set())
        assert await hits(store, box.id, s.Body("邮件系統")) == (set(), set())  # 統 is not 统
        # Two characters: below the trigram size, the scan answers (see e2e).
        assert not s.indexable(s.Body("邮件"))
        with pytest.raises(ValueError):
            await store.search_text(box.id, [s.Body("邮件")])
    run(str(tmp_path / "s"), body)


def test_full_case_folding_and_no_diacritic_folding(tmp_path):
    """Python's casefold() (the reference) maps ß to ss and ﬁ to fi, which
    SQLite's 1:1 folding does not: the index stores folded text, so both
    agree. Accents are significant: "cafe" is not "café"."""
    async def body(store):
        await store.create_account(ALICE, "h")
        uid = await add(store, msg(subject="Große Straße", body="Caf\u00e9 \ufb01nal ΣΊΣΥΦΟΣ"))
        await store.update_search_index()
        box = await store.get_mailbox(ALICE, "INBOX")
        assert await hits(store, box.id, s.Header("subject", "STRASSE")) == ({uid}, set())
        assert await hits(store, box.id, s.Header("subject", "großE")) == ({uid}, set())
        assert await hits(store, box.id, s.Body("FINAL")) == ({uid}, set())
        assert await hits(store, box.id, s.Body("σίσυφος")) == ({uid}, set())
        assert await hits(store, box.id, s.Body("CAFÉ")) == ({uid}, set())
        assert await hits(store, box.id, s.Body("cafe")) == (set(), set())
    run(str(tmp_path / "s"), body)


HTML_WITH_ATTACHMENT = normalise_crlf(b"""From: a@example.org
Subject: html
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b"

--b
Content-Type: text/html; charset=utf-8

<html><head><style>p { color: red }</style></head><body><p>Caf&eacute; <b>bold</b>er
<a href="http://tracker.example/x">the link</a></p><script>var hidden = 1</script></body></html>
--b
Content-Type: application/pdf; name="Quarterly-R\xc3\xa9sum\xc3\xa9.pdf"
Content-Disposition: attachment; filename*=utf-8''Quarterly-R%C3%A9sum%C3%A9.pdf
Content-Transfer-Encoding: base64

""" + base64.encodebytes(b"%PDF binarysecret") + b"""--b--
""")


@pytest.mark.parametrize("needle,found", [
    ("café bolder the link", True),   # HTML reduced to the text it shows
    ("tracker.example", False),       # attribute values are not text
    ("color: red", False), ("var hidden", False),
    ("<p>", False), ("eacute", False),
    ("quarterly-résumé.pdf", True),   # attachments are found by file name
    ("binarysecret", False),          # but not by their bytes
])
def test_html_text_and_attachment_names(tmp_path, needle, found):
    async def body(store):
        await store.create_account(ALICE, "h")
        uid = await add(store, HTML_WITH_ATTACHMENT)
        await store.update_search_index()
        box = await store.get_mailbox(ALICE, "INBOX")
        a = MessageAnalysis.from_bytes(analyse(HTML_WITH_ATTACHMENT).to_bytes())
        meta = (await store.snapshot(ALICE, "INBOX")).messages[0]
        reference = s.matches(s.Body(needle), meta, lambda: a,
                              body_text=lambda: s.body_text(a, HTML_WITH_ATTACHMENT))
        assert reference is found
        assert await hits(store, box.id, s.Body(needle)) == ({uid} if found else set(), set())
    run(str(tmp_path / "s"), body)


def test_other_header_fields_are_confirmed_against_the_analysis(tmp_path):
    """HEADER on a field without a column of its own finds candidates in
    every header line, then keeps those where that field holds the text."""
    async def body(store):
        await store.create_account(ALICE, "h")
        a = await add(store, msg(headers="X-Spam: yes maybe\nX-Other: nope\n"))
        b = await add(store, msg(headers="X-Spam: no\nX-Other: yes maybe\n"))
        await store.update_search_index()
        box = await store.get_mailbox(ALICE, "INBOX")
        assert await hits(store, box.id, s.Header("x-spam", "YES MAY")) == ({a}, set())
        assert await hits(store, box.id, s.Header("x-other", "yes may")) == ({b}, set())
        assert await hits(store, box.id, s.Text("yes may")) == ({a, b}, set())
    run(str(tmp_path / "s"), body)


def test_one_process_indexes_at_a_time(tmp_path):
    """Another process holding data_dir/index.lock (as a server worker that
    is indexing would) makes this one skip indexing, not wait or duplicate."""
    path = str(tmp_path / "s")

    async def body(store):
        await store.create_account(ALICE, "h")
        await add(store, msg())
        fd = os.open(os.path.join(path, store_module.INDEX_LOCK), os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            assert await store.update_search_index() == 0
        finally:
            os.close(fd)
        assert await store.update_search_index() == 1
    run(path, body)


def test_a_version_1_store_is_migrated_and_indexed(tmp_path):
    path = str(tmp_path / "s")
    os.makedirs(path)
    conn = sqlite3.connect(os.path.join(path, "index.sqlite3"), isolation_level=None)
    script = (store_module.importlib.resources.files(store_module.__package__)
              .joinpath("schema.sql").read_text())
    conn.execute("BEGIN")
    for statement in store_module._split_sql(script):
        conn.execute(statement)
    conn.execute("COMMIT")
    conn.close()

    async def body(store):
        await store.create_account(ALICE, "h")
        uid = await add(store, msg(body="migrated text"))
        assert await store.update_search_index() == 1
        box = await store.get_mailbox(ALICE, "INBOX")
        assert await hits(store, box.id, s.Body("migrated")) == ({uid}, set())
    run(path, body)
    assert sql(path, "PRAGMA user_version") == [(store_module.SCHEMA_VERSION,)]


def test_trigrams_present_but_not_in_sequence_are_not_a_match(tmp_path):
    """BODY, TEXT and other header fields are looked up by trigram presence
    (schema 3): "abcde" has the trigrams abc, bcd, cde, all present in
    "abcd bcde" which does not contain it; the candidate is confirmed
    against the stored text and dropped."""
    async def body(store):
        await store.create_account(ALICE, "h")
        decoy = await add(store, msg(subject="abcd bcde", body="zabcd zbcde", headers="X-Spam: abcd bcde\n"))
        real = await add(store, msg(subject="s", body="xabcdex", headers="X-Spam: abcdef\n"))
        await store.update_search_index()
        box = await store.get_mailbox(ALICE, "INBOX")
        assert await hits(store, box.id, s.Body("ABCDE")) == ({real}, set())
        assert await hits(store, box.id, s.Text("abcde")) == ({real}, set())
        assert await hits(store, box.id, s.Header("x-spam", "abcde")) == ({real}, set())
        assert await hits(store, box.id, s.Header("subject", "abcde")) == (set(), set())
        # One trigram: presence is the answer, in the body or the header lines.
        assert await hits(store, box.id, s.Body("bcd")) == ({decoy, real}, set())
        assert await hits(store, box.id, s.Text("x-s")) == ({decoy, real}, set())
        assert await hits(store, box.id, s.Body("x-s")) == (set(), set())
    run(str(tmp_path / "s"), body)


def test_deleted_blobs_leave_nothing_in_the_fts_tables(tmp_path):
    """The FTS5 tables are contentless: rows are deleted by giving SQLite the
    text inserted (kept compressed in search_doc); afterwards no trigram of
    the deleted text is left in any of them."""
    path = str(tmp_path / "s")

    async def body(store):
        await store.create_account(ALICE, "h")
        uid = await add(store, msg(subject="zebraquagga", body="wombatkoala", frm="Okapi <okapi@x.org>"))
        keep = await add(store, msg(subject="other", body="other"))
        await store.update_search_index()
        box = await store.get_mailbox(ALICE, "INBOX")
        await store.store_flags(box.id, [uid], FlagMode.ADD, ["\\Deleted"])
        await store.expunge(box.id)
        await store.store_flags(box.id, [keep], FlagMode.ADD, ["\\Seen"])  # collects garbage
        await store.update_search_index()
        assert (await store.check()).clean
    run(path, body)
    assert sql(path, "SELECT count(*) FROM search_doc") == [(1,)]
    assert sql(path, "SELECT rowid FROM search_body WHERE search_body MATCH '\"wom\"'") == []
    assert sql(path, "SELECT rowid FROM search_hdr WHERE search_hdr MATCH '\"zeb\"'") == []
    assert sql(path, "SELECT rowid FROM search_fields WHERE search_fields MATCH 'h_from : \"okapi\"'") == []
    assert sql(path, "SELECT count(*) FROM search_body WHERE search_body MATCH '\"oth\"'") == [(1,)]


def test_check_reports_and_repairs_index_rows_without_blob_and_blobs_without_rows(tmp_path):
    path = str(tmp_path / "s")

    async def body(store):
        await store.create_account(ALICE, "h")
        await add(store, msg(body="first text"))
        await add(store, msg(body="second text"))
        await store.update_search_index()
        assert (await store.check()).clean
    run(path, body)
    conn = sqlite3.connect(os.path.join(path, "index.sqlite3"))
    with conn:
        conn.execute("INSERT INTO search_doc(doc, hz, bz) VALUES (9999, x'', x'')")  # no blob, not queued
        conn.execute("DELETE FROM search_doc WHERE doc = (SELECT min(doc) FROM blobs)")  # a blob's doc lost
    conn.close()

    async def repair(store):
        report = await store.check(repair=True)
        assert len(report.problems) == 2 and len(report.repaired) == 2, report
        box = await store.get_mailbox(ALICE, "INBOX")
        assert len((await hits(store, box.id, s.Body("text")))[1]) == 1  # unindexed again
        assert sql(path, "SELECT doc FROM search_dead") == [(9999,)]
        assert await store.update_search_index() == 1
        assert sql(path, "SELECT count(*) FROM search_dead") == [(0,)]
        assert (await store.check()).clean
        assert await hits(store, box.id, s.Body("text")) == ({1, 2}, set())
    run(path, repair)


def test_a_version_2_store_is_migrated_its_old_index_dropped_and_rebuilt(tmp_path, monkeypatch):
    """Version 3 replaces version 2's index: the migration drops it (table,
    trigger, queued deletions) and marks every blob unindexed; searches stay
    exact (they name those messages as unindexed) until the indexer is done."""
    path = str(tmp_path / "s")
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", 2)

    async def old(store):
        await store.create_account(ALICE, "h")
        await add(store, msg(body="carried over"))
        await add(store, msg(body="gone soon"))
    run(path, old)
    assert sql(path, "PRAGMA user_version") == [(2,)]
    # Index as version 2 did: one search_text row per blob, blobs.doc set.
    conn = sqlite3.connect(os.path.join(path, "index.sqlite3"), isolation_level=None)
    for blob_id, in conn.execute("SELECT id FROM blobs").fetchall():
        doc = conn.execute("INSERT INTO search_text(hdr, body) VALUES ('x', 'carried over')").lastrowid
        conn.execute("UPDATE blobs SET doc = ? WHERE id = ?", (doc, blob_id))
    conn.execute("INSERT INTO search_dead(doc) VALUES (12345)")
    conn.close()
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", 3)

    async def new(store):
        box = await store.get_mailbox(ALICE, "INBOX")
        assert await hits(store, box.id, s.Body("carried")) == (set(), {1, 2})
        await store.store_flags(box.id, [2], FlagMode.ADD, ["\\Deleted"])
        await store.expunge(box.id)
        await store.store_flags(box.id, [1], FlagMode.ADD, ["\\Seen"])  # collects the blob
        assert await store.update_search_index() == 1
        assert await hits(store, box.id, s.Body("carried")) == ({1}, set())
        assert await hits(store, box.id, s.Body("soon")) == (set(), set())
        assert (await store.check()).clean
    run(path, new)
    assert sql(path, "PRAGMA user_version") == [(3,)]
    names = {r[0] for r in sql(path, "SELECT name FROM sqlite_master")}
    assert "search_text" not in names and {"search_doc", "search_body", "search_hdr", "search_fields"} <= names
    assert sql(path, "SELECT count(*) FROM search_doc") == [(1,)]
    assert sql(path, "SELECT count(*) FROM search_dead") == [(0,)]


# ---------------------------------------------------------------------------
# Property: index-backed evaluation == the reference scan.

WORDS = ["alpha", "Beta", "GAMMA", "straße", "STRASSE", "café", "cafe", "邮件系统", "系统日志", "ΣΊΣΥΦΟΣ",
         "ﬁnal", "x", "ab", "quux-42", "İstanbul", "ǅemal", "ﬀ"]
text = st.lists(st.sampled_from(WORDS), max_size=6).map(" ".join)
message = st.builds(
    lambda subject, body, spam, html: (msg(subject=subject, body=body, headers=f"X-Spam: {spam}\n") if not html else
                                       msg(subject=subject, body=f"<p>{body}</p><b>{spam}</b>", headers="",
                                           ctype="text/html; charset=utf-8")),
    text, text, text, st.booleans())
needle = st.one_of(
    st.sampled_from(WORDS),
    st.builds(lambda w, i, j: w[min(i, j):max(i, j)], st.sampled_from(WORDS), st.integers(0, 8),
              st.integers(0, 8)),
    st.builds(lambda a, b: a + " " + b, st.sampled_from(WORDS), st.sampled_from(WORDS)),
    st.sampled_from(["SUBJECT: ", "x-spam: y", "o\ns", "ss", "SS", "lpha beta"]),
).flatmap(lambda w: st.sampled_from([w, w.upper(), w.lower(), w.swapcase()]))
leaf = st.one_of(
    st.builds(s.Body, needle), st.builds(s.Text, needle),
    st.builds(s.Header, st.sampled_from(["subject", "from", "to", "x-spam", "cc"]), needle),
    st.builds(s.HasFlag, st.just("\\Seen")),
)
query = st.recursive(leaf, lambda inner: st.one_of(
    st.builds(lambda a, b: s.And((a, b)), inner, inner),
    st.builds(lambda a, b: s.Or((a, b)), inner, inner),
    st.builds(s.Not, inner)), max_leaves=4)


async def index_backed(store, box_id: int, q: s.Query, metas, analyses, raws) -> list[int]:
    """Evaluate as the IMAP handler does: index answers first, then the
    staged evaluator for what it leaves undecided."""
    keys = s.text_keys(q)
    index = None
    if keys:
        found = await store.search_text(box_id, keys)
        index = {k: (h, found.unindexed) for k, h in zip(keys, found.hits)}
    pred = s.compile_query(q, index=index)
    out = []
    for m in metas:
        r = pred(m, s.UNKNOWN, s.UNKNOWN)
        if r is None:
            r = pred(m, analyses[m.uid], s.UNKNOWN)
        if r is None:
            r = pred(m, analyses[m.uid], s.fold(s.body_text(analyses[m.uid], raws[m.uid])))
        if r:
            out.append(m.uid)
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(messages=st.lists(st.tuples(message, st.booleans()), min_size=1, max_size=6),
       queries=st.lists(query, min_size=1, max_size=6), indexed=st.integers(0, 6))
def test_index_backed_search_equals_the_reference_scan(tmp_path_factory, messages, queries, indexed):
    path = str(tmp_path_factory.mktemp("prop") / "s")

    async def body(store):
        await store.create_account(ALICE, "h")
        raws = {}
        for raw, seen in messages:
            raws[await add(store, raw, flags=["\\Seen"] if seen else [])] = raw
        await store.update_search_index(indexed)  # some, all or none indexed
        box = await store.get_mailbox(ALICE, "INBOX")
        metas = (await store.snapshot(ALICE, "INBOX")).messages
        analyses = {u: MessageAnalysis.from_bytes(b)
                    for u, b in (await store.read_analyses(box.id, list(raws))).items()}
        for q in queries:
            expected = [m.uid for m in metas
                        if s.matches(q, m, lambda m=m: analyses[m.uid],
                                     body_text=lambda m=m: s.body_text(analyses[m.uid], raws[m.uid]))]
            assert await index_backed(store, box.id, q, metas, analyses, raws) == expected, q
    run(path, body)
