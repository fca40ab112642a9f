"""The storage contract for the full-text index (``search_text``,
``update_search_index``), beyond test_contract.py: what
tests/unit/mailstore/test_search_index.py holds the embedded store to, at
the interface, so every backend is held to it too. Exact for non-ASCII
text, HTML reduced to text, attachment names, header fields, LIKE's
special characters; equal to the reference scan (``search.matches``) for
random mailboxes and queries whatever part of the mailbox is indexed.

The stores run their background indexer, so a test never assumes that a
message is still unindexed: before ``update_search_index()`` a message may
be in either ``hits`` or ``unindexed``; after it, ``unindexed`` is empty."""

from __future__ import annotations

import asyncio
import base64

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hivemail.mailstore import search as s
from hivemail.mailstore.types import FlagMode, Recipient
from hivemail.mime import MessageAnalysis, analyse, normalise_crlf
from tests.mailstore_contract.test_contract import ALICE, with_alice


def msg(subject: str = "hello", body: str = "plain body", frm: str = "Ann <ann@example.com>",
        headers: str = "", ctype: str = "text/plain; charset=utf-8") -> bytes:
    return normalise_crlf(
        f"From: {frm}\nTo: bob@example.org\nSubject: {subject}\n{headers}Content-Type: {ctype}\n\n{body}\n"
        .encode())


async def add(store, raw: bytes, mailbox: str = "INBOX", flags=()) -> int:
    return (await store.append(ALICE, mailbox, raw, analyse(raw).to_bytes(), flags)).uid


async def hits(store, mailbox_id: int, key) -> tuple[set[int], set[int]]:
    found = await store.search_text(mailbox_id, [key])
    return set(found.hits[0]), set(found.unindexed)


async def indexed(store) -> None:
    """Index everything (the background indexer may be at it too)."""
    await store.update_search_index()


async def inbox(store) -> int:
    return (await store.get_mailbox(ALICE, "INBOX")).id


def test_unindexed_or_found_before_indexing_exact_after(backend):
    async def body(store):
        await with_alice(store)
        uid = await add(store, msg(body="the quokkafjord42 word"))
        [res] = await store.deliver([Recipient(ALICE, "INBOX")], msg(subject="second"),
                                    analyse(msg(subject="second")).to_bytes())
        box = await inbox(store)
        found, pending = await hits(store, box, s.Body("QuokkaFjord42"))
        assert found <= {uid} and res.uid not in found and uid in found | pending
        await indexed(store)
        assert await store.update_search_index() == 0
        assert await hits(store, box, s.Body("QuokkaFjord42")) == ({uid}, set())
        assert await hits(store, box, s.Header("subject", "SECOND")) == ({res.uid}, set())
        assert await hits(store, box, s.Text("subject: sec")) == ({res.uid}, set())
        assert await hits(store, box, s.Body("second")) == (set(), set())
        # Several keys in one call, one answer each; another mailbox sees nothing.
        found = await store.search_text(box, [s.Body("quokka"), s.Header("from", "ann@"), s.Text("nothing here")])
        assert [set(h) for h in found.hits] == [{uid}, {uid, res.uid}, set()]
        archive = (await store.get_mailbox(ALICE, "Archive")).id
        assert await hits(store, archive, s.Body("quokka")) == (set(), set())
    backend.run(body)


def test_background_indexer_catches_up_by_itself(backend):
    async def body(store):
        await with_alice(store)
        uid = await add(store, msg(body="background words"))
        box = await inbox(store)
        for _ in range(200):
            found, pending = await hits(store, box, s.Body("background"))
            if not pending:
                break
            await asyncio.sleep(0.05)
        assert (found, pending) == ({uid}, set())
    backend.run(body)


def test_copy_shares_the_index_and_expunge_drops_it(backend):
    async def body(store):
        await with_alice(store)
        uid = await add(store, msg(body="shared needle text"))
        other = await add(store, msg(body="something else"))
        await indexed(store)
        box = await inbox(store)
        archive = (await store.get_mailbox(ALICE, "Archive")).id
        [(_, copied)] = await store.copy(box, [uid], ALICE, "Archive")
        assert await hits(store, archive, s.Body("needle")) == ({copied}, set())  # nothing new to index
        await store.store_flags(box, [uid], FlagMode.ADD, ["\\Deleted"])
        await store.expunge(box)
        assert await hits(store, box, s.Body("needle")) == (set(), set())
        assert await hits(store, archive, s.Body("needle")) == ({copied}, set())
        await store.store_flags(archive, [copied], FlagMode.ADD, ["\\Deleted"])
        await store.expunge(archive)
        await store.store_flags(box, [other], FlagMode.ADD, ["\\Seen"])
        await indexed(store)
        assert await hits(store, archive, s.Body("needle")) == (set(), set())
        assert await hits(store, box, s.Body("something")) == ({other}, set())
        report = await store.check()
        assert report.clean, report.problems
    backend.run(body)


def test_a_blob_delivered_again_after_deletion_is_indexed_again(backend):
    async def body(store):
        await with_alice(store)
        raw = msg(body="phoenix text")
        uid = await add(store, raw)
        await indexed(store)
        box = await inbox(store)
        await store.store_flags(box, [uid], FlagMode.ADD, ["\\Deleted"])
        await store.expunge(box)
        again = await add(store, raw)  # the same bytes: the same blob id
        found, pending = await hits(store, box, s.Body("phoenix"))
        assert found | pending == {again}
        await indexed(store)
        assert await hits(store, box, s.Body("phoenix")) == ({again}, set())
    backend.run(body)


CJK = "关于邮件服务器的配置说明：请检查邮件系统日志"


def test_cjk_substrings_inside_a_longer_run(backend):
    async def body(store):
        await with_alice(store)
        uid = await add(store, msg(subject=f"=?utf-8?b?{base64.b64encode(CJK.encode()).decode()}?=",
                                   body=CJK * 2))
        await add(store, msg(subject="plain", body="邮 件 separated"))
        await indexed(store)
        box = await inbox(store)
        for needle in ("邮件系统", "服务器的配", "日志关于"):  # the last spans the two copies
            assert s.indexable(s.Body(needle))
            assert await hits(store, box, s.Body(needle)) == ({uid}, set())
        assert await hits(store, box, s.Header("subject", "件服务")) == ({uid}, set())
        assert await hits(store, box, s.Text("件服务")) == ({uid}, set())
        assert await hits(store, box, s.Body("邮件系統")) == (set(), set())  # 統 is not 统
        # Two characters: below the trigram size, the scan answers.
        assert not s.indexable(s.Body("邮件"))
        with pytest.raises(ValueError):
            await store.search_text(box, [s.Body("邮件")])
    backend.run(body)


def test_full_case_folding_and_no_diacritic_folding(backend):
    async def body(store):
        await with_alice(store)
        uid = await add(store, msg(subject="Große Straße", body="Caf\u00e9 \ufb01nal ΣΊΣΥΦΟΣ"))
        await indexed(store)
        box = await inbox(store)
        assert await hits(store, box, s.Header("subject", "STRASSE")) == ({uid}, set())
        assert await hits(store, box, s.Header("subject", "großE")) == ({uid}, set())
        assert await hits(store, box, s.Body("FINAL")) == ({uid}, set())
        assert await hits(store, box, s.Body("σίσυφος")) == ({uid}, set())
        assert await hits(store, box, s.Body("CAFÉ")) == ({uid}, set())
        assert await hits(store, box, s.Body("cafe")) == (set(), set())
    backend.run(body)


def test_like_wildcards_and_escapes_are_plain_characters(backend):
    """A backend that answers with SQL LIKE must escape %, _ and its escape
    character: each is only itself in a needle."""
    async def body(store):
        await with_alice(store)
        a = await add(store, msg(subject="save 100% now", body="under_score back\\slash 50%_\\x"))
        b = await add(store, msg(subject="save 1000 now", body="underXscore back/slash 50a_b"))
        await indexed(store)
        box = await inbox(store)
        assert await hits(store, box, s.Header("subject", "100% n")) == ({a}, set())
        assert await hits(store, box, s.Header("subject", "save%now")) == (set(), set())
        assert await hits(store, box, s.Body("under_score")) == ({a}, set())
        assert await hits(store, box, s.Body("r_s")) == ({a}, set())
        assert await hits(store, box, s.Body("k\\s")) == ({a}, set())
        assert await hits(store, box, s.Body("%_\\x")) == ({a}, set())
        assert await hits(store, box, s.Text("%%%")) == (set(), set())
        assert await hits(store, box, s.Text("___")) == (set(), set())
        assert await hits(store, box, s.Body("back")) == ({a, b}, set())
    backend.run(body)


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


def test_html_text_and_attachment_names(backend):
    cases = [
        ("café bolder the link", True),   # HTML reduced to the text it shows
        ("tracker.example", False),       # attribute values are not text
        ("color: red", False), ("var hidden", False),
        ("<p>", False), ("eacute", False),
        ("quarterly-résumé.pdf", True),   # attachments are found by file name
        ("binarysecret", False),          # but not by their bytes
    ]

    async def body(store):
        await with_alice(store)
        uid = await add(store, HTML_WITH_ATTACHMENT)
        await indexed(store)
        box = await inbox(store)
        a = MessageAnalysis.from_bytes(analyse(HTML_WITH_ATTACHMENT).to_bytes())
        meta = (await store.snapshot(ALICE, "INBOX")).messages[0]
        for needle, found in cases:
            reference = s.matches(s.Body(needle), meta, lambda: a,
                                  body_text=lambda: s.body_text(a, HTML_WITH_ATTACHMENT))
            assert reference is found, needle
            assert await hits(store, box, s.Body(needle)) == ({uid} if found else set(), set()), needle
    backend.run(body)


def test_header_fields_with_and_without_a_column(backend):
    """HEADER on SUBJECT / FROM / TO / CC / BCC and on any other field; a
    needle never matches across two values of a field given twice, nor
    across two fields."""
    async def body(store):
        await with_alice(store)
        a = await add(store, msg(headers="X-Spam: yes maybe\nX-Other: nope\nCc: Carl <carl@x.example>\n"))
        b = await add(store, msg(headers="X-Spam: no\nX-Other: yes maybe\n"))
        c = await add(store, msg(subject="first one", headers="Subject: second two\n"))
        await indexed(store)
        box = await inbox(store)
        assert await hits(store, box, s.Header("x-spam", "YES MAY")) == ({a}, set())
        assert await hits(store, box, s.Header("x-other", "yes may")) == ({b}, set())
        assert await hits(store, box, s.Header("x-missing", "yes may")) == (set(), set())
        assert await hits(store, box, s.Text("yes may")) == ({a, b}, set())
        assert await hits(store, box, s.Header("cc", "CARL@X")) == ({a}, set())
        assert await hits(store, box, s.Header("to", "bob@example")) == ({a, b, c}, set())
        assert await hits(store, box, s.Header("from", "<ann@")) == ({a, b, c}, set())
        assert await hits(store, box, s.Header("bcc", "example")) == (set(), set())
        assert await hits(store, box, s.Header("subject", "second two")) == ({c}, set())
        assert await hits(store, box, s.Header("subject", "one\nsec")) == (set(), set())
        assert await hits(store, box, s.Header("subject", "one\nsubject: sec")) == (set(), set())
        assert await hits(store, box, s.Text("one\nsubject: sec")) == ({c}, set())
        assert await hits(store, box, s.Header("x-spam", "maybe\nx-other")) == (set(), set())
    backend.run(body)


def test_trigrams_present_but_not_in_sequence_are_not_a_match(backend):
    async def body(store):
        await with_alice(store)
        decoy = await add(store, msg(subject="abcd bcde", body="zabcd zbcde", headers="X-Spam: abcd bcde\n"))
        real = await add(store, msg(subject="s", body="xabcdex", headers="X-Spam: abcdef\n"))
        await indexed(store)
        box = await inbox(store)
        assert await hits(store, box, s.Body("ABCDE")) == ({real}, set())
        assert await hits(store, box, s.Text("abcde")) == ({real}, set())
        assert await hits(store, box, s.Header("x-spam", "abcde")) == ({real}, set())
        assert await hits(store, box, s.Header("subject", "abcde")) == (set(), set())
        assert await hits(store, box, s.Body("bcd")) == ({decoy, real}, set())
        assert await hits(store, box, s.Text("x-s")) == ({decoy, real}, set())
        assert await hits(store, box, s.Body("x-s")) == (set(), set())
    backend.run(body)


# ---------------------------------------------------------------------------
# Property: index-backed evaluation == the reference scan (the same strategy
# as tests/unit/mailstore/test_search_index.py). One store per backend; each
# example gets a mailbox of its own.

# ASCII words, words with digits, ASCII beside non-ASCII letters in one word
# ("caféwrote", "\u212aelvin" folds to "kelvin"), and words joined with no
# separator: ASCII-alnum needles (the embedded store's word path) inside
# longer words, whole words and across separators.
WORDS = ["alpha", "Beta", "GAMMA", "straße", "STRASSE", "café", "cafe", "邮件系统", "系统日志", "ΣΊΣΥΦΟΣ",
         "ﬁnal", "x", "ab", "quux-42", "İstanbul", "ǅemal", "ﬀ", "50%_off",
         "wrote", "reWrote", "caféwrote", "\u212aelvin", "beta42x", "wrote:"]
text = st.lists(st.tuples(st.sampled_from(WORDS), st.sampled_from([" ", " ", "", "\n", "-", "_"])),
                max_size=6).map(lambda ws: "".join(w + sep for w, sep in ws))
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
    # across the end of one word and the start of the next, joined or not
    st.builds(lambda a, b, sep, i: (a + sep + b)[max(0, len(a) - i):len(a) + len(sep) + 3],
              st.sampled_from(WORDS), st.sampled_from(WORDS), st.sampled_from(["", " "]), st.integers(1, 4)),
    st.sampled_from(["SUBJECT: ", "x-spam: y", "o\ns", "ss", "SS", "lpha beta", "a%e", "0%_", "rote", "te wr",
                     "ewrot", "kelvin", "42x", "ritewrote"]),
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


def test_index_backed_search_equals_the_reference_scan(backend):
    loop = asyncio.new_event_loop()
    store = backend.make()
    loop.run_until_complete(store.open())
    loop.run_until_complete(with_alice(store))
    boxes = iter(range(1, 1 << 30))

    async def example(messages, queries, limit):
        name = f"prop{next(boxes)}"
        box = (await store.create_mailbox(ALICE, name)).id
        raws = {}
        for raw, seen in messages:
            raws[await add(store, raw, name, flags=["\\Seen"] if seen else [])] = raw
        await store.update_search_index(limit)  # some, all or none of the new ones indexed
        metas = (await store.snapshot(ALICE, name)).messages
        analyses = {u: MessageAnalysis.from_bytes(b)
                    for u, b in (await store.read_analyses(box, list(raws))).items()}
        for q in queries:
            expected = [m.uid for m in metas
                        if s.matches(q, m, lambda m=m: analyses[m.uid],
                                     body_text=lambda m=m: s.body_text(analyses[m.uid], raws[m.uid]))]
            assert await index_backed(store, box, q, metas, analyses, raws) == expected, q

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(messages=st.lists(st.tuples(message, st.booleans()), min_size=1, max_size=6),
           queries=st.lists(query, min_size=1, max_size=6), limit=st.integers(0, 6))
    def check(messages, queries, limit):
        loop.run_until_complete(example(messages, queries, limit))

    try:
        check()
    finally:
        loop.run_until_complete(store.close())
        loop.close()
