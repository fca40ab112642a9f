"""Sort, thread and preview keys (mailstore/sortkeys.py), their storage in
schema 5 (blob_keys) and the threading algorithms (mailstore/threads.py)."""

from __future__ import annotations

import asyncio
import sqlite3
import os

import pytest

from hivemail.mailstore import threads
from hivemail.mailstore.embedded import store as store_module
from hivemail.mailstore.embedded.store import EmbeddedStore
from hivemail.mailstore.sortkeys import EMPTY_KEYS, base_subject, casemap, keys_from_bytes, message_ids, preview, sort_keys
from hivemail.mailstore.types import FlagMode
from hivemail.mime import analyse, normalise_crlf

ALICE = "alice@example.org"


def a(text: str, body: str = "") -> object:
    return analyse(normalise_crlf((text + "\n\n" + body).encode()))


@pytest.mark.parametrize("subject,base,reply", [
    ("Hello", "Hello", False),
    ("Re: Hello", "Hello", True),
    ("RE:  re:\tHello  ", "Hello", True),
    ("Fwd: Hello", "Hello", True),
    ("fw: Hello", "Hello", True),
    ("Re[2]: Hello", "Hello", True),
    ("Re [2]: Hello", "Hello", True),
    ("[list] Hello", "Hello", False),
    ("[list] Re: Hello", "Hello", True),
    ("Re: [list] Hello", "Hello", True),
    ("[list]", "[list]", False),                 # step 4: the blob stays if nothing follows
    ("[a][b] Hello", "Hello", False),
    ("Hello (fwd)", "Hello", True),
    ("Hello (FWD) (fwd)  ", "Hello", True),
    ("[fwd: Hello]", "Hello", True),
    ("Re: [Fwd: Re: Hello (fwd)]", "Hello", True),
    ("[fwd: [list] Hello]", "Hello", True),
    ("Reply: Hello", "Reply: Hello", False),
    ("Re", "Re", False),
    ("Re:", "", True),
    ("", "", False),
    ("   ", "", False),
    ("Re: café", "café", True),
])
def test_base_subject_follows_rfc5256_section_2_1(subject, base, reply):
    assert base_subject(subject) == (base, reply)


def test_casemap_is_dovecots_titlecase_not_lowercase():
    """i;unicode-casemap titlecases (RFC 5051), as Dovecot does before
    comparing: "_x" sorts after "a" ('A' < '_' < 'a'). The e2e transcript
    (SORT (FROM), "_under@") shows Dovecot 2.3 agreeing."""
    assert casemap("abc") == "ABC"
    assert sorted(["_x", "a"], key=casemap) == ["a", "_x"]
    assert casemap("straße") == "STRAßE"               # simple titlecase: ß stays
    assert casemap("Émile") == casemap("émile") == "E\u0301MILE"   # decomposed


def test_message_ids_are_normalised():
    assert message_ids('<"01KF8JCEOCBS0045PS"@xxx.yyy.com>') == ["01KF8JCEOCBS0045PS@xxx.yyy.com"]
    assert message_ids("<01KF8JCEOCBS0045PS@xxx.yyy.com>") == ["01KF8JCEOCBS0045PS@xxx.yyy.com"]
    assert message_ids("  <a@b> (comment) <c@[1.2.3.4]>\t<d@e>") == ["a@b", "c@[1.2.3.4]", "d@e"]
    assert message_ids("<no-at-sign> <a b@c> <>") == []
    assert message_ids('<"a\\"b"@c>') == ['a"b@c']
    assert message_ids(None) == []


def test_keys_of_a_message():
    k = sort_keys(a("From: =?utf-8?q?J=C3=B6rg?= <Joerg@Example.DE>\nTo: undisclosed-recipients:;\n"
                    "Cc: Carl <carl@x.org>, dora@x.org\nSubject: Re: [list] Hi\nDate: Mon, 1 Jan 2024 10:00:00 -0500\n"
                    "Message-ID: <m@x>\nIn-Reply-To: <p@x> <q@x>"))
    assert k.sent == 1704121200 and k.subject == "HI" and k.reply
    assert (k.from_, k.to, k.cc) == ("JOERG", "UNDISCLOSED-RECIPIENTS", "CARL")
    assert k.display_from == casemap("Jörg") and k.display_to == "UNDISCLOSED-RECIPIENTS"
    assert k.message_id == "m@x" and k.references == ("p@x",)   # only the first In-Reply-To


def test_references_win_over_in_reply_to_unless_they_hold_no_valid_id():
    k = sort_keys(a("Subject: x\nReferences: <r1@x>\n <r2@x>\nIn-Reply-To: <p@x>"))
    assert k.references == ("r1@x", "r2@x")
    k = sort_keys(a("Subject: x\nReferences: junk\nIn-Reply-To: <p@x>"))
    assert k.references == ("p@x",)
    k = sort_keys(a("Subject: x\nDate: garbage"))
    assert k.sent is None and k.references == () and k.message_id is None


def test_unreadable_analysis_gives_empty_keys():
    assert keys_from_bytes(b"not json", b"") == (EMPTY_KEYS, "")


def test_preview_from_the_first_plain_part_else_html():
    raw = normalise_crlf(b"Subject: x\n\n  Hello\n\n  world\tand  more  \n")
    assert preview(analyse(raw), raw) == "Hello world and more"
    raw = normalise_crlf(b"Content-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/html\n\n"
                         b"<html><head><style>p{}</style></head><p>Hi&nbsp;<b>there</b></p><p>bye</p>\n"
                         b"--b\nContent-Type: application/pdf\n\nxx\n--b--\n")
    assert preview(analyse(raw), raw) == "Hi there bye"
    # Long text is cut at the last word boundary within 256 characters;
    # a word longer than that is cut mid-word.
    raw = normalise_crlf(b"Subject: x\n\n" + b"word " * 200)
    assert preview(analyse(raw), raw) == ("word " * 51).strip()
    raw = normalise_crlf(b"Subject: x\n\n" + b"x" * 300)
    assert preview(analyse(raw), raw) == "x" * 256
    raw = normalise_crlf(b"Content-Type: image/png\n\nxx\n")
    assert preview(analyse(raw), raw) == ""


# -- threads -----------------------------------------------------------------

def test_references_threads_a_chain_deeper_than_the_recursion_limit():
    n = 5_000
    ids = [f"m{i}@x" for i in range(n)]
    refs = [tuple(ids[max(0, i - 3):i]) for i in range(n)]
    forest = threads.references(list(range(1, n + 1)), list(range(n)), ["s"] * n, [i > 0 for i in range(n)],
                                ids, refs)
    depth, node = 0, forest[0]
    while node[1]:
        depth, node = depth + 1, node[1][0]
    assert len(forest) == 1 and depth == n - 1


def test_references_ignores_loops_and_self_references():
    # 1 says 2 is its parent and 2 says 1 is: the second link would loop.
    forest = threads.references([1, 2, 3], [1, 2, 3], ["a", "b", "c"], [False] * 3,
                                ["x@1", "x@2", "x@3"], [("x@2",), ("x@1",), ("x@3",)])
    assert forest == [(2, [(1, [])]), (3, [])]


# -- storage ---------------------------------------------------------------------

def run(path, body, **kwargs):
    async def main():
        store = EmbeddedStore(path, fsync=False, background_index=False, **kwargs)
        await store.open()
        try:
            return await body(store)
        finally:
            await store.close()
    return asyncio.run(main())


RAW = normalise_crlf(b"From: ann@example.com\nSubject: Re: hi\nMessage-ID: <m@x>\n\nbody text\n")


def test_keys_are_stored_per_blob_at_append_and_go_with_the_blob(tmp_path):
    path = str(tmp_path / "s")

    async def body(store):
        await store.create_account(ALICE, "h")
        r = await store.append(ALICE, "INBOX", RAW, analyse(RAW).to_bytes())
        await store.append(ALICE, "INBOX", RAW, analyse(RAW).to_bytes())
        keys = await store.sort_keys(r.mailbox_id, [1, 2, 3])
        assert set(keys) == {1, 2} and keys[1].subject == "HI" and keys[1].message_id == "m@x"
        assert await store.previews(r.mailbox_id, [2]) == {2: "body text"}
        assert sql(path, "SELECT count(*) FROM blob_keys") == [(1,)]
        await store.store_flags(r.mailbox_id, [1, 2], FlagMode.ADD, ["\\Deleted"])
        await store.expunge(r.mailbox_id)
        await store.store_flags(r.mailbox_id, [], FlagMode.ADD, ["\\Seen"])  # a write: collects the blob
        assert await store.sort_keys(r.mailbox_id, [1, 2]) == {}
    run(path, body)
    assert sql(path, "SELECT count(*) FROM blob_keys") == [(0,)]


def sql(path, query, *args):
    conn = sqlite3.connect(os.path.join(path, "index.sqlite3"))
    try:
        return conn.execute(query, args).fetchall()
    finally:
        conn.close()


def test_a_version_4_store_gets_its_keys_lazily(tmp_path, monkeypatch):
    """Messages stored before schema 5 have no keys row: the first SORT
    computes them from the analysis and the file and stores them."""
    path = str(tmp_path / "s")
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", 4)

    async def old(store):
        await store.create_account(ALICE, "h")
        await store.append(ALICE, "INBOX", RAW, analyse(RAW).to_bytes())
    run(path, old)
    assert sql(path, "PRAGMA user_version") == [(4,)]
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", 5)

    async def new(store):
        box = await store.get_mailbox(ALICE, "INBOX")
        assert sql(path, "SELECT count(*) FROM blob_keys") == [(0,)]
        keys = await store.sort_keys(box.id, [1])
        assert keys[1].subject == "HI" and keys[1].reply
        assert sql(path, "SELECT count(*) FROM blob_keys") == [(1,)]
        assert await store.previews(box.id, [1]) == {1: "body text"}
        assert (await store.check()).clean
    run(path, new)
    assert sql(path, "PRAGMA user_version") == [(5,)]
