"""The storage contract for accounts, quota, Sieve scripts, vacation memory
and mailboxes, beyond test_contract.py: what tests/unit/mailstore holds the
embedded store to (test_sieve_store.py, test_quota_store.py), at the
interface, so every backend is held to it too."""

from __future__ import annotations

import asyncio

from hivemail.mailstore import ErrorKind
from hivemail.mailstore.types import FlagMode, Recipient
from tests.mailstore_contract.test_contract import ALICE, BOB, message, raises, with_alice

NOBODY = "nobody@example.org"


# ---------------------------------------------------------------------------
# accounts, domains, aliases


def test_accounts_aliases_and_unknown_accounts(backend):
    async def body(store):
        await with_alice(store)
        await store.add_alias("Sales@Example.org", ALICE)
        # An address is one account or one alias.
        await raises(ErrorKind.EXISTS, store.create_account("sales@example.org", "h"))
        await raises(ErrorKind.BAD_NAME, store.create_account("a b@example.org", "h"))
        await raises(ErrorKind.BAD_NAME, store.add_domain("bad domain"))
        await raises(ErrorKind.BAD_NAME, store.add_domain(""))
        await store.add_domain("example.org")   # already there: nothing happens
        assert (await store.list_domains()).count("example.org") == 1
        await store.create_account("carol@other.example", "h")
        assert await store.list_domains() == ["example.org", "other.example"]
        for call in (store.set_password(NOBODY, "h"), store.set_account_setting(NOBODY, "k", "v"),
                     store.set_quota(NOBODY, 1, 1), store.get_quota(NOBODY), store.delete_account(NOBODY),
                     store.list_mailboxes(NOBODY), store.get_mailbox(NOBODY, "INBOX"),
                     store.mailbox_status(NOBODY, "INBOX"), store.set_subscribed(NOBODY, "INBOX", True),
                     store.rename_mailbox(NOBODY, "a", "b"), store.delete_mailbox(NOBODY, "a")):
            await raises(ErrorKind.NOT_FOUND, call)
        await store.set_quota(ALICE, 10, None)
        await store.set_account_setting(ALICE, "lang", "fr")
        [alice, carol] = await store.list_accounts()
        assert (alice.name, alice.quota_bytes, alice.quota_messages) == (ALICE, 10, None)
        assert alice.settings == {"lang": "fr"}
        assert (carol.name, carol.settings) == ("carol@other.example", {})
        await store.set_quota(ALICE, None, None)
        assert not (await store.get_quota(ALICE)).limited
        # Deleting an account frees its address and its aliases.
        await store.delete_account(ALICE)
        await store.create_account("sales@example.org", "h")
        assert await store.resolve_address("sales@example.org") == "sales@example.org"
    backend.run(body)


# ---------------------------------------------------------------------------
# quota


def test_quota_usage_follows_every_change_exactly(backend):
    async def body(store):
        await with_alice(store)
        await store.create_account(BOB, "h")
        a, b, c = message(1, 100), message(2, 300), message(3, 50)
        await store.deliver([Recipient(ALICE), Recipient(BOB), Recipient(ALICE, "Archive")], a, b"")
        await store.append(ALICE, "Sent", b, b"")
        await store.create_mailbox(ALICE, "box")
        await store.append(ALICE, "box", c, b"")

        async def used(account=ALICE):
            q = await store.get_quota(account)
            return q.bytes_used, q.messages_used

        assert await used() == (2 * len(a) + len(b) + len(c), 4)
        assert await used(BOB) == (len(a), 1)
        # Renaming (INBOX too) moves messages within the account: no change.
        await store.rename_mailbox(ALICE, "box", "box2")
        await store.rename_mailbox(ALICE, "INBOX", "Old")
        assert await used() == (2 * len(a) + len(b) + len(c), 4)
        # Deleting a mailbox releases its messages.
        await store.delete_mailbox(ALICE, "box2")
        assert await used() == (2 * len(a) + len(b), 3)
        await store.delete_mailbox(ALICE, "Old")
        assert await used() == (len(a) + len(b), 2)
        assert await used(BOB) == (len(a), 1)
        assert (await store.check()).clean
    backend.run(body)


def test_too_big_for_the_limit_is_permanent_and_over_the_limit_is_temporary(backend):
    async def body(store):
        await with_alice(store)
        await store.set_quota(ALICE, 1000, 3)
        big = message(1, 1100)  # longer than the limit by itself
        await raises(ErrorKind.QUOTA_TOO_BIG, store.append(ALICE, "INBOX", big, b""))
        [result] = await store.deliver([Recipient(ALICE)], big, b"")
        assert result.kind is ErrorKind.QUOTA_TOO_BIG
        await store.append(ALICE, "INBOX", message(2, 600), b"")
        [result] = await store.deliver([Recipient(ALICE)], message(3, 600), b"")
        assert result.kind is ErrorKind.NO_QUOTA
        # Expunging makes room: that is why it is temporary.
        box = await store.get_mailbox(ALICE, "INBOX")
        await store.store_flags(box.id, [1], FlagMode.ADD, ["\\Deleted"])
        status = await store.mailbox_status(ALICE, "INBOX")
        assert (status.deleted, status.deleted_size) == (1, len(message(2, 600)))
        await store.expunge(box.id)
        [result] = await store.deliver([Recipient(ALICE)], message(3, 600), b"")
        assert result.uid == 2
        # A message limit of 0 means nothing ever fits (RFC 9208 3.1.2).
        await store.set_quota(ALICE, None, 0)
        [result] = await store.deliver([Recipient(ALICE)], message(4), b"")
        assert result.kind is ErrorKind.QUOTA_TOO_BIG
        q = await store.get_quota(ALICE)
        assert (q.bytes_limit, q.messages_limit, q.messages_used) == (None, 0, 1)
        assert q.full
    backend.run(body)


def test_a_move_within_the_account_is_never_refused_for_quota(backend):
    async def body(store):
        await with_alice(store)
        await store.append(ALICE, "INBOX", message(1, 500), b"")
        await store.append(ALICE, "INBOX", message(2, 500), b"")
        await store.set_quota(ALICE, 600, 1)  # lowered below the usage: refuses, deletes nothing
        box = await store.get_mailbox(ALICE, "INBOX")
        await raises(ErrorKind.NO_QUOTA, store.copy(box.id, [1], ALICE, "Archive"))
        assert await store.move(box.id, [1, 2], ALICE, "Archive") == [(1, 1), (2, 2)]
        q = await store.get_quota(ALICE)
        assert (q.bytes_used, q.messages_used) == (len(message(1, 500)) + len(message(2, 500)), 2)
    backend.run(body)


# ---------------------------------------------------------------------------
# Sieve scripts and vacation memory


def test_one_active_script_and_rfc5804_rules(backend):
    async def body(store):
        await with_alice(store)
        assert await store.sieve_active(ALICE) is None
        assert await store.sieve_list(ALICE) == []
        await store.sieve_put(ALICE, "b", "discard;")
        await store.sieve_put(ALICE, "a", "keep;")
        assert await store.sieve_get(ALICE, "a") == "keep;"
        await store.sieve_activate(ALICE, "a")
        await store.sieve_activate(ALICE, "b")
        assert await store.sieve_list(ALICE) == [("a", False), ("b", True)]
        assert await store.sieve_active(ALICE) == ("b", "discard;")
        await store.sieve_put(ALICE, "b", "stop;")  # replacing keeps it active
        assert await store.sieve_active(ALICE) == ("b", "stop;")
        await raises(ErrorKind.IN_USE, store.sieve_delete(ALICE, "b"))
        await raises(ErrorKind.EXISTS, store.sieve_rename(ALICE, "a", "b"))
        await raises(ErrorKind.NOT_FOUND, store.sieve_rename(ALICE, "nope", "x"))
        await store.sieve_rename(ALICE, "b", "c")
        assert await store.sieve_active(ALICE) == ("c", "stop;")
        await store.sieve_activate(ALICE, None)
        assert await store.sieve_active(ALICE) is None
        await store.sieve_activate(ALICE, None)     # nothing active: still fine
        await store.sieve_delete(ALICE, "c")
        await raises(ErrorKind.NOT_FOUND, store.sieve_get(ALICE, "c"))
        await raises(ErrorKind.NOT_FOUND, store.sieve_delete(ALICE, "c"))
        await raises(ErrorKind.NOT_FOUND, store.sieve_activate(ALICE, "nope"))
        assert await store.sieve_list(ALICE) == [("a", False)]
        # Scripts are per account and go with it.
        await store.create_account(BOB, "h")
        assert await store.sieve_list(BOB) == []
        await store.sieve_put(BOB, "a", "bob;")
        await store.sieve_activate(BOB, "a")
        assert await store.sieve_get(ALICE, "a") == "keep;"
        await raises(ErrorKind.NOT_FOUND, store.sieve_put(NOBODY, "a", "keep;"))
        await raises(ErrorKind.NOT_FOUND, store.sieve_list(NOBODY))
        assert await store.sieve_active(NOBODY) is None
        await store.delete_account(BOB)
        await store.create_account(BOB, "h")
        assert await store.sieve_list(BOB) == []
    backend.run(body)


def test_concurrent_activations_leave_one_active_script(backend):
    async def body(store):
        await with_alice(store)
        for name in "abcdef":
            await store.sieve_put(ALICE, name, f"# {name}")
        await asyncio.gather(*(store.sieve_activate(ALICE, name) for name in "abcdef" * 2))
        assert sum(active for _, active in await store.sieve_list(ALICE)) == 1
    backend.run(body)


def test_vacation_memory_per_sender_and_handle(backend):
    async def body(store):
        await with_alice(store)
        day = 86400.0
        assert await store.vacation_should_reply(ALICE, "Bob@Example.net", "h1", 7 * day, 1000.0)
        assert not await store.vacation_should_reply(ALICE, "bob@example.net", "h1", 7 * day, 1000.0 + day)
        assert await store.vacation_should_reply(ALICE, "bob@example.net", "h2", 7 * day, 1000.0 + day)
        assert await store.vacation_should_reply(ALICE, "carol@example.net", "h1", 7 * day, 1000.0 + day)
        assert await store.vacation_should_reply(ALICE, "bob@example.net", "h1", 7 * day, 1000.0 + 7 * day)
        # Two deliveries at once: exactly one reply (check and record are atomic).
        answers = await asyncio.gather(*(store.vacation_should_reply(ALICE, "dave@example.net", "h", day, 5000.0)
                                         for _ in range(8)))
        assert answers.count(True) == 1
        await raises(ErrorKind.NOT_FOUND, store.vacation_should_reply(NOBODY, "bob@example.net", "h", day, 1.0))
    backend.run(body)


# ---------------------------------------------------------------------------
# mailboxes


def test_rename_inbox_keeps_uids_modseqs_and_flags_in_the_new_mailbox(backend):
    async def body(store):
        await with_alice(store)
        for i in range(3):
            await store.append(ALICE, "INBOX", message(i), b"{}", ["\\Seen"] if i == 1 else [])
        inbox = await store.get_mailbox(ALICE, "INBOX")
        before = await store.snapshot(ALICE, "INBOX")
        waiter = asyncio.create_task(store.wait_for_change(inbox.id, before.mailbox.highestmodseq, timeout=5))
        await asyncio.sleep(0.05)
        await store.rename_mailbox(ALICE, "INBOX", "Old/Mail")
        assert await waiter is True
        old = await store.snapshot(ALICE, "Old/Mail")
        assert (await store.get_mailbox(ALICE, "Old")).name == "Old"
        assert [(m.uid, m.modseq, m.flags) for m in old.messages] == [
            (m.uid, m.modseq, m.flags) for m in before.messages]
        assert old.mailbox.uidnext == before.mailbox.uidnext
        assert old.mailbox.highestmodseq >= max(m.modseq for m in old.messages)
        assert not old.mailbox.subscribed and old.mailbox.special_use is None
        status = await store.mailbox_status(ALICE, "INBOX")
        assert (status.messages, status.size) == (0, 0)
        assert status.mailbox.uidnext == before.mailbox.uidnext
        assert status.mailbox.highestmodseq == before.mailbox.highestmodseq + 1
        changes = await store.changes_since(inbox.id, before.mailbox.highestmodseq)
        assert changes.expunged == (1, 2, 3)
        # An empty INBOX renames too, and no name can become INBOX.
        await store.rename_mailbox(ALICE, "inbox", "Empty")
        assert (await store.mailbox_status(ALICE, "Empty")).messages == 0
        await raises(ErrorKind.EXISTS, store.rename_mailbox(ALICE, "Empty", "INBOX"))
        await raises(ErrorKind.EXISTS, store.rename_mailbox(ALICE, "INBOX", "Old/Mail"))
    backend.run(body)


def test_rename_refuses_a_child_name_that_is_taken_or_invalid(backend):
    async def body(store):
        await with_alice(store)
        await store.create_mailbox(ALICE, "a/b")
        await store.create_mailbox(ALICE, "x/b")
        await store.delete_mailbox(ALICE, "x")          # x/b stays, x is free
        await raises(ErrorKind.EXISTS, store.rename_mailbox(ALICE, "a", "x"))
        await raises(ErrorKind.EXISTS, store.rename_mailbox(ALICE, "a", "a"))
        await store.create_mailbox(ALICE, "deep/" + "/".join(["d"] * 29))
        await raises(ErrorKind.BAD_NAME, store.rename_mailbox(ALICE, "deep", "p/q/r/s"))
        names = {b.name for b in await store.list_mailboxes(ALICE)}
        assert {"a", "a/b", "x/b", "deep"} <= names and "x" not in names
        await store.rename_mailbox(ALICE, "a", "y")
        names = {b.name for b in await store.list_mailboxes(ALICE)}
        assert {"y", "y/b"} <= names and not {"a", "a/b"} & names
    backend.run(body)


def test_mailboxes_are_listed_in_byte_order_and_per_account(backend):
    async def body(store):
        await with_alice(store)
        await store.create_account(BOB, "h")
        for name in ("b", "B", "a/b", "ä", "Z", "_x"):
            await store.create_mailbox(ALICE, name)
        names = [b.name for b in await store.list_mailboxes(ALICE)]
        assert names == sorted(names, key=lambda n: n.encode())
        assert "ä" not in {b.name for b in await store.list_mailboxes(BOB)}
        await raises(ErrorKind.NOT_FOUND, store.get_mailbox(BOB, "ä"))
        # The same name in another account is another mailbox.
        await store.create_mailbox(BOB, "ä")
        assert (await store.get_mailbox(BOB, "ä")).id != (await store.get_mailbox(ALICE, "ä")).id
    backend.run(body)


def test_concurrent_creates_share_their_parents(backend):
    async def body(store):
        await with_alice(store)
        results = await asyncio.gather(*(store.create_mailbox(ALICE, f"p/q/{i}") for i in range(6)),
                                       return_exceptions=True)
        assert not [r for r in results if isinstance(r, BaseException)], results
        names = [b.name for b in await store.list_mailboxes(ALICE)]
        assert names.count("p") == 1 and names.count("p/q") == 1
        results = await asyncio.gather(*(store.create_mailbox(ALICE, "same") for _ in range(4)),
                                       return_exceptions=True)
        assert len([r for r in results if not isinstance(r, BaseException)]) == 1
        assert all(r.kind is ErrorKind.EXISTS for r in results if isinstance(r, BaseException))
    backend.run(body)
