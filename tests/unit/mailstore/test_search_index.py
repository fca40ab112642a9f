"""The embedded store's own side of the full-text index: its FTS5 tables
and their rows after COPY, expunge and blob deletion, one indexing process
at a time (flock), schema migrations, check/repair. What any backend must
answer (exact substrings, CJK, case folding, HTML and attachment names,
equality with the reference scan) is in
``tests/mailstore_contract/test_contract_search.py``, run on both."""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3

from hivemail.mailstore import search as s
from hivemail.mailstore.embedded import store as store_module
from hivemail.mailstore.embedded.store import EmbeddedStore
from hivemail.mailstore.types import FlagMode
from hivemail.mime import analyse, normalise_crlf

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


# -- the word path (schema_007.sql) ------------------------------------------

WORD_BODIES = ["he wrote back", "it was rewrote, then", "wrote:quickly", "caféwrote 42x", "te wr alone",
               "nothing to see", "\u212aelvin wrote", "ROTE learning"]
WORD_NEEDLES = ["wrote", "rote", "WROTE", "ewro", "quickly", "42x", "kelvin", "caféwrote", "te wr",
                "e wr", "rot", "absent", "ote le"]


def spy_word_path(monkeypatch) -> list[tuple[str, bool]]:
    """Record (needle, answered by the word path) per call of _word_hits."""
    calls: list[tuple[str, bool]] = []
    real = store_module._word_hits

    def spy(conn, mailbox_id, needle):
        found = real(conn, mailbox_id, needle)
        calls.append((needle, found is not None))
        return found
    monkeypatch.setattr(store_module, "_word_hits", spy)
    return calls


async def both_paths(store, box_id, key, monkeypatch) -> tuple[set[int], set[int]]:
    """(the answer as given, the answer of the trigram path with confirmation)."""
    found = (await hits(store, box_id, key))
    with monkeypatch.context() as m:
        m.setattr(store_module, "_NOWORDS_MAX", -1)  # the word path never applies
        confirmed = await hits(store, box_id, key)
    assert found[1] == confirmed[1] == set()
    return found[0], confirmed[0]


def test_word_path_for_ascii_needles_equals_the_confirmed_answer(tmp_path, monkeypatch):
    """An ASCII letters-and-digits needle is answered from the word index
    (inside a longer word too: "rote" in "wrote" and "rewrote"), with no
    confirmation, and the answer is the trigram path's; a needle with a
    space ("te wr") or other characters never takes it."""
    calls = spy_word_path(monkeypatch)

    async def body(store):
        await store.create_account(ALICE, "h")
        uids = {text: await add(store, msg(body=text)) for text in WORD_BODIES}
        await store.update_search_index()
        assert sql_rows(store, "SELECT count(*) FROM search_nowords") == [(0,)]
        box = await store.get_mailbox(ALICE, "INBOX")
        for needle in WORD_NEEDLES:
            for key in (s.Body(needle), s.Text(needle)):
                calls.clear()
                found, confirmed = await both_paths(store, box.id, key, monkeypatch)
                assert found == confirmed, key
                reference = {uids[t] for t in WORD_BODIES if s.fold(needle) in s.fold(t)}
                if isinstance(key, s.Body):
                    assert found == reference, key
                word = needle.isascii() and needle.isalnum()
                assert calls[:1] == ([(s.fold(needle), True)] if word else []), key
        assert await hits(store, box.id, s.Body("rote")) == (
            {uids["he wrote back"], uids["it was rewrote, then"], uids["wrote:quickly"], uids["caféwrote 42x"],
             uids["\u212aelvin wrote"], uids["ROTE learning"]}, set())
        assert await hits(store, box.id, s.Body("te wr")) == ({uids["te wr alone"]}, set())
    run(str(tmp_path / "s"), body)
    assert not store_module._fts_term(s.Body("te wr")).words
    assert store_module._fts_term(s.Body("Rote")).words


def sql_rows(store, query, *args):
    return sql(store.data_dir, query, *args)


def test_word_path_falls_back_for_needles_in_too_many_words(tmp_path, monkeypatch):
    calls = spy_word_path(monkeypatch)
    monkeypatch.setattr(store_module, "_WORD_TERMS_MAX", 2)

    async def body(store):
        await store.create_account(ALICE, "h")
        uid = await add(store, msg(body="wrote rewrote wrotes"))
        await add(store, msg(body="other"))
        await store.update_search_index()
        box = await store.get_mailbox(ALICE, "INBOX")
        assert await hits(store, box.id, s.Body("rote")) == ({uid}, set())
        assert calls == [("rote", False)]
    run(str(tmp_path / "s"), body)


def test_a_doc_with_a_run_fts5_may_truncate_is_confirmed(tmp_path, monkeypatch):
    """A word over 32 KB is cut by FTS5: a doc with a run of 8192 characters
    without an ASCII separator gets no words and is confirmed; its row goes
    with the doc."""
    calls = spy_word_path(monkeypatch)

    async def body(store):
        await store.create_account(ALICE, "h")
        long_uid = await add(store, msg(body="é" * 20000 + "needle42 tail"))
        short = await add(store, msg(body="a needle42 here"))
        await store.update_search_index()
        assert sql_rows(store, "SELECT pending FROM search_nowords") == [(0,)]
        box = await store.get_mailbox(ALICE, "INBOX")
        assert await hits(store, box.id, s.Body("needle42")) == ({long_uid, short}, set())
        assert await hits(store, box.id, s.Body("eedle4")) == ({long_uid, short}, set())
        assert calls and all(taken for _, taken in calls)
        await store.store_flags(box.id, [long_uid], FlagMode.ADD, ["\\Deleted"])
        await store.expunge(box.id)
        await store.store_flags(box.id, [short], FlagMode.ADD, ["\\Seen"])  # collects the blob
        await store.update_search_index()
        assert sql_rows(store, "SELECT count(*) FROM search_nowords") == [(0,)]
        assert await hits(store, box.id, s.Body("needle42")) == ({short}, set())
        assert (await store.check()).clean
    run(str(tmp_path / "s"), body)


def test_a_version_6_store_gets_its_words_backfilled(tmp_path, monkeypatch):
    """Docs indexed before version 7 are listed in search_nowords (pending)
    by the migration: confirmed while listed, given their words by the
    indexer; a doc dropped before its words came is not 'deleted' from the
    word index (it has no rows there)."""
    path = str(tmp_path / "s")
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", 6)
    texts = ["he wrote back", "rewrote it", "nothing", "wrote twice, dropped", "ROTE learning"]

    async def old(store):
        await store.create_account(ALICE, "h")
        for text in texts:
            await add(store, msg(body=text))
        await store.update_search_index()
    run(path, old)
    assert sql(path, "PRAGMA user_version") == [(6,)]
    names = {r[0] for r in sql(path, "SELECT name FROM sqlite_master")}
    assert "search_bodywords" not in names
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", 7)
    calls = spy_word_path(monkeypatch)

    async def new(store):
        box = await store.get_mailbox(ALICE, "INBOX")
        assert sql_rows(store, "SELECT count(*), min(pending) FROM search_nowords") == [(5, 1)]
        # Listed docs are confirmed: the same answer before the backfill.
        assert await hits(store, box.id, s.Body("rote")) == ({1, 2, 4, 5}, set())
        assert calls == [("rote", True)]
        # One drops before it has words, then the backfill.
        await store.store_flags(box.id, [4], FlagMode.ADD, ["\\Deleted"])
        await store.expunge(box.id)
        await store.store_flags(box.id, [1], FlagMode.ADD, ["\\Seen"])  # collects the blob
        assert await store.update_search_index() == 4
        assert sql_rows(store, "SELECT count(*) FROM search_nowords") == [(0,)]
        assert sql_rows(store, "SELECT count(*) FROM search_vocab WHERE term IN ('wrote', 'rewrote', 'rote')") == [(3,)]
        for needle in ("rote", "wrote", "ewrot", "nothing", "twice", "te ba"):
            found, confirmed = await both_paths(store, box.id, s.Body(needle), monkeypatch)
            assert found == confirmed == {u for u, t in enumerate(texts, 1) if needle in t.casefold() and u != 4}
        # Deleting after the backfill removes the doc's words.
        await store.store_flags(box.id, [2], FlagMode.ADD, ["\\Deleted"])
        await store.expunge(box.id)
        await store.store_flags(box.id, [1], FlagMode.ADD, ["\\Flagged"])
        await store.update_search_index()
        assert await hits(store, box.id, s.Body("rewrote")) == (set(), set())
        assert (await store.check()).clean
    run(path, new)
    docs = sql(path, "SELECT doc FROM blobs WHERE doc IS NOT NULL")
    words = sql(path, "SELECT rowid FROM search_bodywords WHERE search_bodywords MATCH 'wrote OR rote OR rewrote'")
    assert sorted(words) == sorted(d for d in docs if d in words) and len(words) == 2  # msgs 1 and 5 remain
    sql(path, "INSERT INTO search_bodywords(search_bodywords) VALUES ('integrity-check')")


def test_many_hits_are_mapped_through_the_mailboxs_document_map(tmp_path, monkeypatch):
    """A common word's documents go to UIDs through a per-mailbox map kept
    between searches (``_doc_map``); whatever changes the mapping (an
    append, a copy in, an expunge, a blob indexed anew, one unindexed by
    repair) must make the next search see the change."""
    monkeypatch.setattr(store_module, "_LOOKUP_MAX", 0)  # always the map
    built = []
    real = store_module._doc_map

    def spy(conn, mailbox_id):
        before = dict(store_module._DOC_MAPS)
        mapping = real(conn, mailbox_id)
        built.append(store_module._DOC_MAPS != before)
        return mapping
    monkeypatch.setattr(store_module, "_doc_map", spy)

    async def body(store):
        await store.create_account(ALICE, "h")
        a = await add(store, msg(body="she wrote it"))
        b = await add(store, msg(body="nothing here"))
        c = await add(store, msg(body="rewrote twice"))
        await store.update_search_index()
        box = await store.get_mailbox(ALICE, "INBOX")
        assert await hits(store, box.id, s.Body("wrote")) == ({a, c}, set())
        assert await hits(store, box.id, s.Body("wrote")) == ({a, c}, set())
        assert built[-2:] == [True, False]  # built once, then reused
        # A copy of the same bytes into the mailbox: the same document, two UIDs.
        [(_, d)] = await store.copy(box.id, [a], ALICE, "INBOX")
        assert await hits(store, box.id, s.Body("wrote")) == ({a, c, d}, set())
        await store.store_flags(box.id, [c], FlagMode.ADD, ["\\Deleted"])
        await store.expunge(box.id, [c])
        assert await hits(store, box.id, s.Body("wrote")) == ({a, d}, set())
        e = await add(store, msg(body="wrote again"))
        assert (await hits(store, box.id, s.Body("wrote")))[1] == {e}  # not indexed yet
        await store.update_search_index()
        assert await hits(store, box.id, s.Body("wrote")) == ({a, d, e}, set())
        assert b not in (await hits(store, box.id, s.Body("wrote")))[0]
    run(str(tmp_path / "s"), body)
