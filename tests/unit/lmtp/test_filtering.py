"""Sieve on delivery: the pure plan (filtering.plan_outcome), the filter
service (SieveFilter) against a fake store, and delivery.deliver carrying
plans out -- keep, fileinto (flags, :create, missing mailbox), discard,
reject, editheader, redirect and its loop stop, vacation allowed and
refused, and every failure falling back to INBOX."""

from __future__ import annotations

import asyncio
import email
import email.policy
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from hivemail.lmtp import delivery, filtering
from hivemail.lmtp.filtering import REDIRECT_MARKER, SieveFilter, plan_outcome
from hivemail.mailstore import AppendResult, ErrorKind, MailError, Recipient
from hivemail.outbound import OutboundQueue
from hivemail.sieve import Context, Envelope, SieveMessage, evaluate, parse

ACCOUNT = "bob@example.org"
SENDER = "alice@example.net"
NOW = 1_800_000_000.0

MESSAGE = (
    b"Return-Path: <alice@example.net>\r\n"
    b"Received: from mx by here; Thu, 1 Jan 2026 00:00:00 +0000\r\n"
    b"From: Alice <alice@example.net>\r\n"
    b"To: Bob <bob@example.org>\r\n"
    b"Subject: Hello\r\n"
    b"Message-ID: <m1@example.net>\r\n"
    b"References: <m0@example.net>\r\n"
    b"X-Spam: yes\r\n"
    b"\r\n"
    b"Body line one.\r\n"
)


def with_headers(*lines: bytes, to: bytes = b"Bob <bob@example.org>") -> bytes:
    base = MESSAGE.replace(b"To: Bob <bob@example.org>", b"To: " + to)
    head, _, body = base.partition(b"\r\n\r\n")
    return head + b"\r\n" + b"".join(line + b"\r\n" for line in lines) + b"\r\n" + body


def plan_for(script: str, raw: bytes = MESSAGE, *, mail_from: str = SENDER, rcpt: str = ACCOUNT,
             mailboxes: tuple[str, ...] = ("INBOX", "Lists")) -> filtering.Plan:
    message = SieveMessage.from_bytes(raw)
    envelope = Envelope(mail_from, rcpt)
    own = (ACCOUNT, rcpt)
    context = Context(mailbox_exists=filtering._MailboxNames(mailboxes), own_addresses=own)
    outcome = evaluate(parse(script), message, envelope, context=context)
    return plan_outcome(outcome, raw=raw, message=message, envelope=envelope, account=ACCOUNT,
                        own_addresses=own, hostname="mx.example.org", now=NOW,
                        message_id="<v1@mx.example.org>")


def where(plan: filtering.Plan) -> list[tuple[str, frozenset[str]]]:
    return [(c.recipient.mailbox, c.recipient.flags) for c in plan.stores]


# -- plans ---------------------------------------------------------------------

def test_empty_script_keeps_in_inbox_unchanged():
    plan = plan_for("")
    assert where(plan) == [("INBOX", frozenset())]
    assert plan.stores[0].raw is MESSAGE
    assert plan.redirects == () and plan.vacation is None and plan.refusal is None


def test_keep_with_flags_from_imap4flags():
    plan = plan_for('require "imap4flags"; addflag "\\\\flagged"; addflag "work"; keep;')
    assert where(plan) == [("INBOX", frozenset({"\\Flagged", "work"}))]


def test_fileinto_with_flags():
    plan = plan_for('require ["fileinto", "imap4flags"]; fileinto :flags "\\\\Seen" "Lists";')
    assert where(plan) == [("Lists", frozenset({"\\Seen"}))]
    assert plan.stores[0].create is False


def test_fileinto_create_asks_for_the_mailbox():
    plan = plan_for('require ["fileinto", "mailbox"]; fileinto :create "New/Box";')
    assert where(plan) == [("New/Box", frozenset())]
    assert plan.stores[0].create is True


def test_fileinto_missing_mailbox_without_create_is_implicit_keep():
    plan = plan_for('require ["fileinto", "imap4flags"]; addflag "\\\\Flagged"; fileinto "Nowhere";')
    assert where(plan) == [("INBOX", frozenset())]
    assert any("Nowhere" in n for n in plan.notes)


def test_fileinto_inbox_in_any_case_exists():
    plan = plan_for('require "fileinto"; fileinto "inbox";')
    assert [c.recipient.mailbox.upper() for c in plan.stores] == ["INBOX"]


def test_keep_and_fileinto_inbox_store_one_copy():
    plan = plan_for('require ["fileinto", "imap4flags"]; fileinto :flags "\\\\Seen" "inbox"; keep;')
    assert where(plan) == [("inbox", frozenset({"\\Seen"}))]


def test_discard_stores_nothing():
    plan = plan_for("discard;")
    assert plan.stores == () and plan.refusal is None and plan.redirects == ()


@pytest.mark.parametrize("command", ["reject", "ereject"])
def test_reject_and_ereject_refuse(command):
    plan = plan_for(f'require "{command}"; {command} "I do not want\r\nthis";')
    assert plan.stores == ()
    assert plan.refusal == filtering.Refusal("I do not want this")


def test_editheader_changes_the_stored_bytes_only_in_the_header():
    plan = plan_for('require "editheader"; addheader "X-Filtered" "yes"; deleteheader "X-Spam";')
    [copy] = plan.stores
    assert copy.raw.startswith(b"X-Filtered: yes\r\nReturn-Path: <alice@example.net>\r\n")
    assert b"X-Spam" not in copy.raw
    assert copy.raw.endswith(b"References: <m0@example.net>\r\n\r\nBody line one.\r\n")


def test_redirect_sends_the_message_marked_and_cancels_implicit_keep():
    plan = plan_for('redirect "carol@example.com";')
    assert plan.stores == ()
    [out] = plan.redirects
    assert out.sender == SENDER
    assert out.recipients == ("carol@example.com",)
    assert out.message.startswith(f"{REDIRECT_MARKER}: <{ACCOUNT}>\r\nReceived: ".encode())
    assert b"Return-Path" not in out.message
    assert out.message.endswith(b"\r\n\r\nBody line one.\r\n")


def test_redirect_of_a_bounce_keeps_the_null_sender():
    plan = plan_for('redirect "carol@example.com";', mail_from="")
    assert plan.redirects[0].sender == ""


def test_redirect_loop_is_stopped_and_implicit_keep_applies():
    raw = with_headers(f"{REDIRECT_MARKER}: <{ACCOUNT}>".encode())
    plan = plan_for('redirect "carol@example.com";', raw)
    assert plan.redirects == ()
    assert where(plan) == [("INBOX", frozenset())]
    assert any("loop" in n for n in plan.notes)


def test_marker_of_another_account_does_not_stop_the_redirect():
    raw = with_headers(f"{REDIRECT_MARKER}: <someone@example.org>".encode())
    plan = plan_for('redirect "carol@example.com";', raw)
    assert len(plan.redirects) == 1 and plan.stores == ()


def test_redirect_copy_loop_keeps_one_copy():
    raw = with_headers(f"{REDIRECT_MARKER}: <{ACCOUNT}>".encode())
    plan = plan_for('require "copy"; redirect :copy "carol@example.com";', raw)
    assert plan.redirects == ()
    assert where(plan) == [("INBOX", frozenset())]


VACATION = 'require "vacation"; vacation :days 3 "I am away until Monday.";'


def test_vacation_reply_is_a_proper_auto_reply():
    plan = plan_for(VACATION)
    assert where(plan) == [("INBOX", frozenset())]  # vacation does not cancel the implicit keep
    v = plan.vacation
    assert v is not None
    assert (v.sender, v.period) == (SENDER, 3 * 86400.0)
    assert v.handle
    assert v.outgoing.sender == "" and v.outgoing.recipients == (SENDER,)
    reply = email.message_from_bytes(v.outgoing.message, policy=email.policy.default)
    assert reply["Auto-Submitted"].startswith("auto-replied")
    assert reply["Subject"] == "Auto: Hello"
    assert reply["From"] == ACCOUNT
    assert reply["To"] == SENDER
    assert reply["In-Reply-To"] == "<m1@example.net>"
    assert reply["References"] == "<m0@example.net> <m1@example.net>"
    assert reply["Message-ID"] == "<v1@mx.example.org>"
    assert reply.get_content().strip() == "I am away until Monday."
    assert b"\r\n" in v.outgoing.message and b"\n" not in v.outgoing.message.replace(b"\r\n", b"")


def test_vacation_from_subject_and_non_ascii_reason():
    plan = plan_for('require "vacation"; vacation :from "Bob B <bob@example.org>" :subject "Weg" "Bin weg — bis bald.";')
    reply = email.message_from_bytes(plan.vacation.outgoing.message, policy=email.policy.default)
    assert reply["From"] == "Bob B <bob@example.org>"
    assert reply["Subject"] == "Weg"
    assert reply.get_content().strip() == "Bin weg — bis bald."
    assert plan.vacation.outgoing.message.isascii()


def test_vacation_mime_reason_is_the_body_entity():
    script = ('require "vacation"; vacation :mime "Content-Type: text/html; charset=us-ascii\r\n\r\n'
              '<p>Away</p>\r\n";')
    reply = email.message_from_bytes(plan_for(script).vacation.outgoing.message, policy=email.policy.default)
    assert reply.get_content_type() == "text/html"
    assert "<p>Away</p>" in reply.get_content()


@pytest.mark.parametrize(
    "raw, mail_from",
    [
        (with_headers(b"List-Id: <dev.lists.example.net>"), SENDER),
        (with_headers(b"Auto-Submitted: auto-generated"), SENDER),
        (with_headers(b"Precedence: bulk"), SENDER),
        (MESSAGE, ACCOUNT),                        # our own address
        (MESSAGE, "MAILER-DAEMON@example.net"),
        (MESSAGE, ""),                             # a bounce
        (with_headers(to=b"someone-else@example.org"), SENDER),  # not addressed to us
    ],
    ids=["list", "auto-submitted", "bulk", "own", "mailer-daemon", "null-sender", "not-personal"],
)
def test_vacation_is_refused(raw, mail_from):
    plan = plan_for(VACATION, raw, mail_from=mail_from)
    assert plan.vacation is None
    assert where(plan) == [("INBOX", frozenset())]


def test_runtime_error_gives_inbox_and_nothing_else():
    script = 'require "variables"; set "to" "not-an-address"; redirect "carol@example.com"; redirect "${to}";'
    plan = plan_for(script)
    assert where(plan) == [("INBOX", frozenset())]
    assert plan.redirects == ()
    assert plan.notes and "invalid address" in plan.notes[0]


def test_flags_imap_cannot_hold_are_dropped_not_fatal():
    plan = plan_for('require "imap4flags"; addflag ["\\\\Bogus", "bad(flag", "\\\\seen", "ok"]; keep;')
    assert where(plan) == [("INBOX", frozenset({"\\Seen", "ok"}))]
    assert len(plan.notes) == 2


# -- the filter service ----------------------------------------------------------


class FakeStore:
    """The few MailStore methods filtering and delivery use."""

    def __init__(self, scripts=None, mailboxes=("INBOX", "Lists"), vanish=()):
        self.scripts = dict(scripts or {})
        self.boxes = set(mailboxes)
        self.vanish = set(vanish)  # listed, but gone when storing
        self.stored: list[tuple[Recipient, bytes]] = []
        self.deliver_calls = 0
        self.calls: dict[str, int] = {}
        self.memory: dict[tuple[str, str, str], float] = {}

    def count(self, name):
        self.calls[name] = self.calls.get(name, 0) + 1

    async def sieve_active(self, account):
        self.count("sieve_active")
        value = self.scripts.get(account)
        if isinstance(value, Exception):
            raise value
        return value

    async def list_mailboxes(self, account):
        self.count("list_mailboxes")
        return [SimpleNamespace(name=n) for n in sorted(self.boxes)]

    async def create_mailbox(self, account, name, special_use=None):
        self.count("create_mailbox")
        if name in self.boxes:
            raise MailError(ErrorKind.EXISTS)
        self.boxes.add(name)

    async def deliver(self, recipients, raw, analysis):
        self.deliver_calls += 1
        out = []
        for r in recipients:
            if r.mailbox not in self.boxes or r.mailbox in self.vanish:
                out.append(MailError(ErrorKind.NOT_FOUND, f"no mailbox {r.mailbox}"))
            else:
                self.stored.append((r, raw))
                out.append(AppendResult(1, len(self.stored), len(self.stored), 1))
        return out

    async def vacation_should_reply(self, account, sender, handle, period, now):
        key = (account, sender, handle)
        last = self.memory.get(key)
        if last is not None and now - last < period:
            return False
        self.memory[key] = now
        return True


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 10))


class Ticks:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def make_filter(store, tmp_path, **kw) -> SieveFilter:
    queue = kw.pop("queue", OutboundQueue(tmp_path / "queue", fsync=False))
    kw.setdefault("monotonic", Ticks())
    return SieveFilter(store, queue, "mx.example.org", clock=lambda: NOW, **kw)


def test_account_without_script_costs_one_cached_lookup(tmp_path):
    store = FakeStore()
    ticks = Ticks()
    sieve = make_filter(store, tmp_path, monotonic=ticks)
    for _ in range(3):
        assert run(sieve.plan(ACCOUNT, ACCOUNT, SENDER, MESSAGE)) == filtering.plain_plan(ACCOUNT, MESSAGE)
    assert store.calls == {"sieve_active": 1}
    ticks.now += sieve.active_ttl - 0.01
    run(sieve.plan(ACCOUNT, ACCOUNT, SENDER, MESSAGE))
    assert store.calls == {"sieve_active": 1}


def test_a_script_activated_meanwhile_applies_after_the_ttl(tmp_path):
    store = FakeStore()
    ticks = Ticks()
    sieve = make_filter(store, tmp_path, monotonic=ticks)
    run(sieve.plan(ACCOUNT, ACCOUNT, SENDER, MESSAGE))
    store.scripts[ACCOUNT] = ("main", "discard;")
    ticks.now += sieve.active_ttl
    assert run(sieve.plan(ACCOUNT, ACCOUNT, SENDER, MESSAGE)).stores == ()
    assert store.calls == {"sieve_active": 2, "list_mailboxes": 1}


def test_temporary_errors_are_not_cached(tmp_path):
    store = FakeStore({ACCOUNT: MailError(ErrorKind.TEMP, "locked")})
    sieve = make_filter(store, tmp_path)
    with pytest.raises(MailError):
        run(sieve.plan(ACCOUNT, ACCOUNT, SENDER, MESSAGE))
    store.scripts[ACCOUNT] = ("main", "discard;")
    assert run(sieve.plan(ACCOUNT, ACCOUNT, SENDER, MESSAGE)).stores == ()


def test_scripts_are_parsed_once_per_text(tmp_path, monkeypatch):
    parsed = []
    real = filtering.parse
    monkeypatch.setattr(filtering, "parse", lambda text, **kw: parsed.append(text) or real(text, **kw))
    store = FakeStore({ACCOUNT: ("main", "keep;")})
    sieve = make_filter(store, tmp_path, active_ttl=0)
    for _ in range(3):
        run(sieve.plan(ACCOUNT, ACCOUNT, SENDER, MESSAGE))
    store.scripts[ACCOUNT] = ("main", "discard;")
    assert run(sieve.plan(ACCOUNT, ACCOUNT, SENDER, MESSAGE)).stores == ()
    assert parsed == ["keep;", "discard;"]


def test_malformed_stored_script_delivers_to_inbox(tmp_path):
    store = FakeStore({ACCOUNT: ("broken", 'fileinto "Lists"')})  # no require, no semicolon
    plan = run(make_filter(store, tmp_path).plan(ACCOUNT, ACCOUNT, SENDER, MESSAGE))
    assert where(plan) == [("INBOX", frozenset())]
    assert "does not parse" in plan.notes[0]


def test_store_errors_other_than_temporary_give_inbox(tmp_path):
    store = FakeStore({ACCOUNT: MailError(ErrorKind.CORRUPT, "bad row")})
    plan = run(make_filter(store, tmp_path).plan(ACCOUNT, ACCOUNT, SENDER, MESSAGE))
    assert where(plan) == [("INBOX", frozenset())]


def test_temporary_store_error_stays_temporary(tmp_path):
    store = FakeStore({ACCOUNT: MailError(ErrorKind.TEMP, "locked")})
    with pytest.raises(MailError) as info:
        run(make_filter(store, tmp_path).plan(ACCOUNT, ACCOUNT, SENDER, MESSAGE))
    assert info.value.kind is ErrorKind.TEMP


def test_big_message_is_evaluated_in_the_executor(tmp_path):
    class Counting(ThreadPoolExecutor):
        submitted = 0

        def submit(self, fn, *args, **kwargs):
            Counting.submitted += 1
            return super().submit(fn, *args, **kwargs)

    store = FakeStore({ACCOUNT: ("main", 'require "fileinto"; fileinto "Lists";')})
    with Counting(1) as pool:
        sieve = make_filter(store, tmp_path, executor=pool, big_message=len(MESSAGE) - 1)
        plan = run(sieve.plan(ACCOUNT, ACCOUNT, SENDER, MESSAGE))
        assert Counting.submitted == 1
        sieve.big_message = len(MESSAGE)
        run(sieve.plan(ACCOUNT, ACCOUNT, SENDER, MESSAGE))
        assert Counting.submitted == 1
    assert where(plan) == [("Lists", frozenset())]


def test_vacation_is_queued_once_per_sender_and_period(tmp_path):
    store = FakeStore({ACCOUNT: ("main", VACATION)})
    sieve = make_filter(store, tmp_path)
    first = run(sieve.send(ACCOUNT, run(sieve.plan(ACCOUNT, ACCOUNT, SENDER, MESSAGE))))
    second = run(sieve.send(ACCOUNT, run(sieve.plan(ACCOUNT, ACCOUNT, SENDER, MESSAGE))))
    assert first.vacation is not None and second.vacation is None
    [entry] = sieve.queue.entries()
    assert (entry.sender, entry.recipients) == ("", (SENDER,))
    assert b"Auto-Submitted: auto-replied" in sieve.queue.read_message(entry)


def test_redirect_the_queue_refuses_is_kept_in_inbox(tmp_path):
    store = FakeStore({ACCOUNT: ("main", 'redirect "carol@example.com";')})
    sieve = make_filter(store, tmp_path, queue=None)
    plan = run(sieve.plan(ACCOUNT, ACCOUNT, SENDER, MESSAGE))
    assert plan.stores == ()
    sent = run(sieve.send(ACCOUNT, plan))
    assert where(sent) == [("INBOX", frozenset())]
    assert sent.stores[0].raw == MESSAGE


# -- delivery.deliver carrying plans out -------------------------------------------


def deliver(store, sieve, targets=(ACCOUNT,), raw=MESSAGE):
    return run(delivery.deliver(store, None, raw, [Recipient(t) for t in targets], sieve=sieve,
                                mail_from=SENDER, rcpt_addresses=list(targets)))


def test_deliver_files_flags_and_redirects(tmp_path):
    script = ('require ["fileinto", "imap4flags", "copy"]; fileinto :flags "\\\\Flagged" "Lists";'
              ' redirect :copy "carol@example.com";')
    store = FakeStore({ACCOUNT: ("main", script)})
    sieve = make_filter(store, tmp_path)
    [result] = deliver(store, sieve)
    assert isinstance(result, AppendResult)
    assert [(r.mailbox, r.flags) for r, _ in store.stored] == [("Lists", frozenset({"\\Flagged"}))]
    [entry] = sieve.queue.entries()
    assert entry.recipients == ("carol@example.com",) and entry.sender == SENDER


def test_deliver_fileinto_create_creates_the_mailbox(tmp_path):
    store = FakeStore({ACCOUNT: ("main", 'require ["fileinto", "mailbox"]; fileinto :create "Fresh";')})
    [result] = deliver(store, make_filter(store, tmp_path))
    assert isinstance(result, AppendResult)
    assert [r.mailbox for r, _ in store.stored] == ["Fresh"]


def test_deliver_mailbox_gone_after_planning_refiles_in_inbox(tmp_path):
    store = FakeStore({ACCOUNT: ("main", 'require "fileinto"; fileinto "Lists";')}, vanish={"Lists"})
    [result] = deliver(store, make_filter(store, tmp_path))
    assert isinstance(result, AppendResult)
    assert [(r.mailbox, raw) for r, raw in store.stored] == [("INBOX", MESSAGE)]


def test_deliver_without_filter_reports_errors_as_before(tmp_path):
    store = FakeStore(mailboxes=())
    [result] = run(delivery.deliver(store, None, MESSAGE, [Recipient(ACCOUNT)]))
    assert isinstance(result, MailError) and result.kind is ErrorKind.NOT_FOUND


def test_deliver_discard_reject_and_temporary_failure(tmp_path):
    store = FakeStore({
        "d@example.org": ("main", "discard;"),
        "r@example.org": ("main", 'require "reject"; reject "no thanks";'),
        "t@example.org": MailError(ErrorKind.TEMP, "busy"),
    })
    results = deliver(store, make_filter(store, tmp_path),
                      targets=("d@example.org", "r@example.org", "t@example.org", ACCOUNT))
    assert results[0] == delivery.NotStored("discarded")
    assert results[1] == delivery.Refused("no thanks")
    assert isinstance(results[2], MailError) and results[2].kind is ErrorKind.TEMP
    assert isinstance(results[3], AppendResult)
    assert [r.account for r, _ in store.stored] == [ACCOUNT]


def test_deliver_redirect_only_is_not_stored(tmp_path):
    store = FakeStore({ACCOUNT: ("main", 'redirect "carol@example.com";')})
    sieve = make_filter(store, tmp_path)
    assert deliver(store, sieve) == [delivery.NotStored("redirected")]
    assert store.stored == [] and len(sieve.queue.entries()) == 1


def test_deliver_stores_shared_bytes_once_and_edited_bytes_apart(tmp_path):
    store = FakeStore({"e@example.org": ("main", 'require "editheader"; addheader "X-Seen-By" "sieve";')})
    deliver(store, make_filter(store, tmp_path), targets=("a@example.org", "e@example.org", "b@example.org"))
    assert store.deliver_calls == 2
    by_account = {r.account: raw for r, raw in store.stored}
    assert by_account["a@example.org"] == by_account["b@example.org"] == MESSAGE
    assert by_account["e@example.org"] == b"X-Seen-By: sieve\r\n" + MESSAGE


def test_failed_store_sends_nothing_so_the_retry_does(tmp_path):
    store = FakeStore({ACCOUNT: ("main", 'require "copy"; redirect :copy "carol@example.com";')}, mailboxes=())
    sieve = make_filter(store, tmp_path)
    [result] = deliver(store, sieve)
    assert isinstance(result, MailError)
    assert sieve.queue.entries() == []
