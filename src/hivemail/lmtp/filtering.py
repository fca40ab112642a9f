"""Sieve on delivery: run a recipient's active script, turn its Outcome into a plan.

Two halves, as in the rest of the tree:

* :func:`plan_outcome` is pure: an ``Outcome`` (``hivemail.sieve``), the
  message and its envelope in, a :class:`Plan` out -- the copies to store
  (account, mailbox, flags, bytes), the messages to send (redirect, vacation)
  and a refusal (reject/ereject). No I/O, no clock, no randomness of its own.
* :class:`SieveFilter` does the I/O, only through the store and the outgoing
  queue it is handed: load the active script (parsed scripts are cached per
  process), evaluate it (off the event loop for big messages), ask the store
  for the vacation memory (RFC 5230 section 4.2) and put the outgoing
  messages in the queue.

``lmtp/delivery.py`` carries a plan out for every recipient of a message.

**A filter never loses mail** (issue 8). Whatever goes wrong in filtering
(the script vanished, a stored script no longer parses, a runtime error, a
store error other than a temporary one, an outgoing message the queue will
not take) ends in the plain delivery to INBOX, logged. Only a temporary
store error stays a temporary failure (4xx, EX_TEMPFAIL), as it is without
a filter: the sender retries and nothing is lost. This is also what
dovecot-lda does: "If a message couldn't be saved to the mailbox for any
reason, it's delivered to INBOX instead" (dovecot-lda(1), ``-m``).
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import email.header
import email.quoprimime
import email.utils
import hashlib
import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from pathlib import Path

from hivemail.mailstore import ErrorKind, MailError, MailStore, Recipient
from hivemail.mailstore.types import SYSTEM_FLAG_BY_LOWER
from hivemail.outbound import OutboundQueue, OutboundSettings
from hivemail.sieve import (
    Context,
    Discard,
    Envelope,
    Ereject,
    FileInto,
    Keep,
    Limits,
    Outcome,
    Redirect,
    Reject,
    Script,
    SieveError,
    SieveMessage,
    Vacation,
    apply_header_edits,
    evaluate,
    parse,
    vacation_allowed,
)

log = logging.getLogger("hivemail.lmtp")

# The loop stop of issue 8: a redirected message carries the account it was
# redirected from, and a message that already names this account is not
# redirected again. (Pigeonhole uses the same idea with Received: counting
# and its own duplicate database; one header is enough for us.)
REDIRECT_MARKER = "X-Hivemail-Redirected"

# Above this size the message is analysed for Sieve and the script run in
# the executor, not on the event loop (DESIGN.md principle 6): building a
# SieveMessage decodes every MIME part.
BIG_MESSAGE = 64 * 1024

# How long the answer of ``store.sieve_active`` is reused (see
# SieveFilter._active_script): ManageSieve SETACTIVE or `hivemail sieve
# activate` takes effect for deliveries within this many seconds.
ACTIVE_TTL = 2.0

# Temporary failures stay temporary: the sender retries, nothing is lost.
TEMPORARY = frozenset({ErrorKind.TEMP, ErrorKind.NO_SPACE})

# RFC 9051 section 9: flag-keyword = atom; atom-specials = "(" / ")" / "{" /
# SP / CTL / list-wildcards / quoted-specials / resp-specials
_KEYWORD = re.compile(r"[^\x00-\x20\x7f(){%*\"\\\]]{1,256}\Z")


# -- the plan ------------------------------------------------------------------


@dataclass(frozen=True)
class StoreCopy:
    """One copy to store. ``create``: create the mailbox first (``fileinto :create``, RFC 5490 3.2)."""

    recipient: Recipient
    raw: bytes
    create: bool = False


@dataclass(frozen=True)
class Outgoing:
    """One message for the outgoing queue; ``sender`` "" is the null path ``<>``."""

    sender: str
    recipients: tuple[str, ...]
    message: bytes


@dataclass(frozen=True)
class VacationReply:
    """A vacation reply, to be sent only if the store's memory allows it
    (``MailStore.vacation_should_reply(account, sender, handle, period, now)``)."""

    sender: str      # whom we answer (the envelope sender), lower-cased
    handle: str      # :handle, or the interpreter's hash of the reason
    period: float    # seconds (RFC 5230 :days, RFC 6131 :seconds)
    outgoing: Outgoing


@dataclass(frozen=True)
class Refusal:
    """Sieve ``reject``/``ereject`` (RFC 5429): refuse this recipient, permanently."""

    reason: str


@dataclass(frozen=True)
class Plan:
    """What to do with one message for one recipient.

    An empty ``stores`` with no ``refusal`` means the message was
    discarded or only redirected: it is delivered as far as the sender is
    concerned. ``notes`` say why the plan is not exactly what the script
    asked (errors, loops, fallbacks), for the log.
    """

    stores: tuple[StoreCopy, ...]
    redirects: tuple[Outgoing, ...] = ()
    vacation: VacationReply | None = None
    refusal: Refusal | None = None
    notes: tuple[str, ...] = ()
    filtered: bool = False   # a script ran (False: the plain delivery)
    fallback: bytes = b""    # what an INBOX copy stores if the plan cannot be carried out


def plain_plan(account: str, raw: bytes, *notes: str) -> Plan:
    """The delivery without a filter: one copy to INBOX, no flags."""
    return Plan(stores=(StoreCopy(Recipient(account), raw),), notes=tuple(notes), fallback=raw)


def plan_outcome(
    outcome: Outcome,
    *,
    raw: bytes,
    message: SieveMessage,
    envelope: Envelope,
    account: str,
    own_addresses: Sequence[str],
    hostname: str,
    now: float,
    message_id: str,
) -> Plan:
    """Turn an evaluated script's ``outcome`` into a :class:`Plan`. Pure.

    ``raw``: the message as it will be stored (CRLF, trace fields included),
    the one ``message`` was built from. ``message_id``: the Message-ID to
    give a vacation reply (the caller makes it unique). ``now``: seconds
    since the epoch, for the reply's Date.
    """
    notes = [f"script error: {e}" for e in outcome.errors]
    stored = _edited(raw, outcome) if outcome.header_edits else raw
    stores: list[StoreCopy] = []
    redirects: list[Outgoing] = []
    vacation: VacationReply | None = None
    refusal: Refusal | None = None
    looped = _already_redirected(message, account)
    for action in outcome.actions:
        match action:
            case Keep(flags=flags):
                stores.append(StoreCopy(Recipient(account, "INBOX", _clean_flags(flags, notes)), stored))
            case FileInto(mailbox=mailbox, flags=flags, create=create):
                stores.append(StoreCopy(Recipient(account, mailbox, _clean_flags(flags, notes)), stored, create))
            case Redirect(address=address):
                if looped:
                    notes.append(f"redirect to {address} not done: already redirected by {account} (loop)")
                    continue
                redirects.append(_redirect(raw, envelope, account, address))
            case Vacation() as v:
                if not vacation_allowed(message, envelope, (v.own_address, *v.addresses, *own_addresses)):
                    notes.append("vacation not sent: RFC 5230 sections 4.5/4.6")
                    continue
                reply = build_vacation_reply(v, message, hostname=hostname, now=now, message_id=message_id)
                vacation = VacationReply(v.to.lower(), v.handle, float(v.seconds), Outgoing("", (v.to,), reply))
            case Reject(reason=reason) | Ereject(reason=reason):
                refusal = Refusal(_one_line(reason) or "Message rejected by the recipient's filter")
            case Discard():
                pass
    if looped and not stores and refusal is None and any(isinstance(a, Redirect) for a in outcome.actions):
        # The redirect that cancelled the implicit keep is not done, so the
        # implicit keep is back (RFC 5228 section 2.10.2): the mail stays here.
        stores.append(StoreCopy(Recipient(account), stored))
    return Plan(tuple(_once_per_mailbox(stores)), tuple(redirects), vacation, refusal, tuple(notes), filtered=True, fallback=stored)


def _once_per_mailbox(stores: list[StoreCopy]) -> list[StoreCopy]:
    """RFC 5228 section 2.10.3: ``keep`` and ``fileinto "INBOX"`` (in any
    case) are the same action, done once; the first one's flags win."""
    seen: set[str] = set()
    out = []
    for copy in stores:
        name = copy.recipient.mailbox
        key = "INBOX" + name[5:] if name[:5].upper() == "INBOX" and name[5:6] in ("", "/") else name
        if key not in seen:
            seen.add(key)
            out.append(copy)
    return out


def _edited(raw: bytes, outcome: Outcome) -> bytes:
    """``raw`` with the editheader changes (RFC 5293) replayed on its header."""
    end = raw.find(b"\r\n\r\n")
    head, rest = (raw, b"") if end < 0 else (raw[: end + 2], raw[end + 2 :])
    text = apply_header_edits(head.decode("utf-8", "surrogateescape"), outcome.header_edits)
    return text.encode("utf-8", "surrogateescape") + rest


def _clean_flags(flags: Sequence[str], notes: list[str]) -> frozenset[str]:
    """The flags IMAP can hold: system flags spelled canonically, atoms as
    keywords. A script may set any string (RFC 5232 section 3); what IMAP
    cannot represent is dropped (and noted), not allowed to fail the copy."""
    out = set()
    for flag in flags:
        if flag.startswith("\\"):
            canonical = SYSTEM_FLAG_BY_LOWER.get(flag.lower())
            if canonical is not None:
                out.add(canonical)
            elif flag.lower() != "\\recent":
                notes.append(f"flag {flag!r} dropped: not an IMAP system flag")
        elif _KEYWORD.match(flag):
            out.add(flag)
        else:
            notes.append(f"flag {flag!r} dropped: not an IMAP keyword")
    return frozenset(out)


def _already_redirected(message: SieveMessage, account: str) -> bool:
    ours = account.lower()
    values = message.header_values(REDIRECT_MARKER)
    return any(addr.lower() == ours for _, addr in email.utils.getaddresses(values))


def _without_return_path(raw: bytes) -> bytes:
    """Drop the ``Return-Path:`` fields at the top: RFC 5321 section 4.4 has
    only the final delivery add one, and a redirected message is not
    finally delivered yet. The ``Received:`` trace stays (hop counting)."""
    while raw[:12].lower() == b"return-path:":
        end = raw.find(b"\r\n")
        while end >= 0 and raw[end + 2 : end + 3] in (b" ", b"\t"):
            end = raw.find(b"\r\n", end + 2)
        if end < 0:
            return raw
        raw = raw[end + 2 :]
    return raw


def _redirect(raw: bytes, envelope: Envelope, account: str, address: str) -> Outgoing:
    """The message as received, marked (the loop stop), from the original
    envelope sender: RFC 5228 section 4.2 keeps the return path so bounces
    go to the author, not to us."""
    _, target = email.utils.parseaddr(address)
    marker = f"{REDIRECT_MARKER}: <{account}>\r\n".encode("utf-8", "surrogateescape")
    return Outgoing(envelope.mail_from, (target or address,), marker + _without_return_path(raw))


def build_vacation_reply(v: Vacation, message: SieveMessage, *, hostname: str, now: float, message_id: str) -> bytes:
    """The auto-reply of RFC 5230 section 5, as bytes (CRLF).

    From: ``:from`` or the recipient address (5.2); To: the envelope sender
    (5.5 "the sender of the original message"); Subject: already resolved by
    the interpreter ("Auto: <original subject>" by default, 5.3);
    In-Reply-To and References from the original (5.4); Auto-Submitted:
    auto-replied (5.6, RFC 3834). With ``:mime`` the reason is a MIME entity
    and becomes the body with its own headers (4.4).
    """
    fields = [
        ("From", _address_field(v.from_ or v.own_address)),
        ("To", _address_field(v.to)),
        ("Subject", _encoded(v.subject)),
        ("Date", email.utils.formatdate(now, localtime=True)),
        ("Message-ID", message_id),
    ]
    original_id = next(iter(message.header_values("message-id")), "").strip()
    if original_id:
        fields.append(("In-Reply-To", _one_line(original_id)))
        refs = " ".join(message.header_values("references") + [original_id])
        fields.append(("References", _one_line(refs)))
    fields += [("Auto-Submitted", "auto-replied (vacation)"), ("MIME-Version", "1.0")]
    head = "".join(f"{name}: {value}\r\n" for name, value in fields)
    if v.mime:
        entity = re.sub(r"\r?\n", "\r\n", v.reason.lstrip("\r\n"))
        return (head + entity).encode("utf-8", "surrogateescape")
    body = re.sub(r"\r?\n", "\n", v.reason)
    if body.isascii() and all(len(line) < 900 for line in body.split("\n")):
        part = "Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
        text = body.replace("\n", "\r\n")
    else:
        part = "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        text = email.quoprimime.body_encode(
            body.encode("utf-8", "surrogatepass").decode("latin-1"), maxlinelen=76, eol="\r\n"
        )
    if not text.endswith("\r\n"):
        text += "\r\n"
    return (head + part + text).encode("ascii", "replace")


def _one_line(text: str) -> str:
    return " ".join(text.split())[:500]


def _encoded(text: str) -> str:
    text = _one_line(text)
    if text.isascii():
        return text
    return email.header.Header(text, "utf-8", header_name="Subject").encode(linesep="\r\n")


def _address_field(text: str) -> str:
    name, addr = email.utils.parseaddr(_one_line(text))
    if not addr:
        return _one_line(text)
    return email.utils.formataddr((name, addr), charset="utf-8")


# -- running scripts -----------------------------------------------------------


class _MailboxNames:
    """``Context.mailbox_exists`` from the account's mailbox list; INBOX in
    any case, as the store's names (a module-level class so the Context
    can be pickled to a process pool)."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = frozenset(names)

    def __call__(self, name: str) -> bool:
        if name.upper() == "INBOX" or name[:6].upper() == "INBOX/":
            name = "INBOX" + name[5:]
        return name in self.names


def run_script(script: Script, raw: bytes, envelope: Envelope, limits: Limits, context: Context) -> tuple[SieveMessage, Outcome]:
    """Analyse ``raw`` for Sieve and evaluate ``script``: pure and CPU-bound,
    so the caller may run it in an executor. Never raises (``evaluate``
    does not; ``SieveMessage.from_bytes`` does not)."""
    message = SieveMessage.from_bytes(raw)
    return message, evaluate(script, message, envelope, limits=limits, context=context)


@dataclass
class SieveFilter:
    """The per-process filtering service handed to ``delivery.deliver``.

    ``queue`` None means nowhere to send: redirects fall back to keeping the
    message, vacation replies are skipped (both logged). The parsed-script
    cache holds ``cache_size`` scripts keyed by (account, SHA-256 of the
    text), so an edited script is parsed again and an unchanged one never.
    """

    store: MailStore
    queue: OutboundQueue | None
    hostname: str = "localhost"
    executor: Executor | None = None
    limits: Limits = field(default_factory=Limits)
    clock: Callable[[], float] = time.time
    big_message: int = BIG_MESSAGE
    cache_size: int = 256
    active_ttl: float = ACTIVE_TTL
    monotonic: Callable[[], float] = time.monotonic
    _active: dict[str, tuple[float, tuple[str, str] | None]] = field(default_factory=dict, repr=False)
    _scripts: collections.OrderedDict[tuple[str, str], Script | SieveError] = field(
        default_factory=collections.OrderedDict, repr=False
    )

    @classmethod
    def for_data_dir(cls, store: MailStore, data_dir: str | os.PathLike[str], hostname: str,
                     executor: Executor | None = None) -> SieveFilter:
        # The queue is DATA_DIR/queue with the default settings. Nothing
        # sends it yet: the OutboundRunner is wired into `serve` in a later
        # step (issue 8); until then redirects and vacation replies wait there.
        return cls(store, OutboundQueue(Path(data_dir) / "queue", OutboundSettings()), hostname, executor)

    async def plan(self, account: str, rcpt_address: str, mail_from: str, raw: bytes) -> Plan:
        """The plan for ``raw`` (CRLF, as stored) to ``account``, addressed
        to ``rcpt_address`` (as given in RCPT, +detail included).

        Raises MailError only for a temporary store error; every other fault
        gives :func:`plain_plan` with a note.
        """
        try:
            active = await self._active_script(account)
        except MailError as e:
            if e.kind in TEMPORARY:
                raise
            return plain_plan(account, raw, f"cannot load the active script: {e.text}")
        if active is None:
            return plain_plan(account, raw)
        name, text = active
        try:
            return await self._run(account, name, text, rcpt_address, mail_from, raw)
        except MailError as e:
            if e.kind in TEMPORARY:
                raise
            return plain_plan(account, raw, f"script {name!r}: {e.text}; delivered to INBOX")
        except Exception as e:  # noqa: BLE001 - a filter never loses mail
            log.exception("sieve: script %r of %s failed; delivering to INBOX", name, account)
            return plain_plan(account, raw, f"script {name!r} failed: {type(e).__name__}: {e}; delivered to INBOX")

    async def _run(self, account: str, name: str, text: str, rcpt: str, mail_from: str, raw: bytes) -> Plan:
        script = self._parsed(account, text)
        if isinstance(script, SieveError):
            return plain_plan(account, raw, f"script {name!r} does not parse ({script}); delivered to INBOX")
        mailboxes = await self.store.list_mailboxes(account)
        now = self.clock()
        own = tuple(dict.fromkeys(a.lower() for a in (account, rcpt) if a))
        context = Context(
            now=dt.datetime.fromtimestamp(now).astimezone(),
            mailbox_exists=_MailboxNames([m.name for m in mailboxes]),
            own_addresses=own,
        )
        envelope = Envelope(mail_from=mail_from, rcpt_to=rcpt)
        if len(raw) > self.big_message:
            loop = asyncio.get_running_loop()
            message, outcome = await loop.run_in_executor(
                self.executor, run_script, script, raw, envelope, self.limits, context
            )
        else:
            message, outcome = run_script(script, raw, envelope, self.limits, context)
        return plan_outcome(
            outcome,
            raw=raw,
            message=message,
            envelope=envelope,
            account=account,
            own_addresses=own,
            hostname=self.hostname,
            now=now,
            message_id=email.utils.make_msgid("vacation", domain=self.hostname),
        )

    async def _active_script(self, account: str) -> tuple[str, str] | None:
        """``store.sieve_active``, remembered for ``active_ttl`` seconds: the
        lookup (a store read, about 0.1 ms) was 5-10 % of a plain delivery's
        CPU, and most accounts have no script. A script activated meanwhile
        takes effect within ``active_ttl``."""
        now = self.monotonic()
        hit = self._active.get(account)
        if hit is not None and hit[0] > now:
            return hit[1]
        active = await self.store.sieve_active(account)
        if len(self._active) >= 4 * self.cache_size + 1024:
            self._active = {a: v for a, v in self._active.items() if v[0] > now}
        if self.active_ttl > 0:
            self._active[account] = (now + self.active_ttl, active)
        return active

    def _parsed(self, account: str, text: str) -> Script | SieveError:
        key = (account, hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest())
        cached = self._scripts.get(key)
        if cached is not None:
            self._scripts.move_to_end(key)
            return cached
        try:
            result: Script | SieveError = parse(text, max_size=self.limits.max_script_size,
                                                max_nesting=self.limits.max_nesting)
        except SieveError as e:
            result = e
        self._scripts[key] = result
        while len(self._scripts) > self.cache_size:
            self._scripts.popitem(last=False)
        return result

    async def send(self, account: str, plan: Plan) -> Plan:
        """Queue the plan's outgoing messages; call once the stored copies
        are safe, before the delivery is acknowledged.

        Returns the plan as carried out: a redirect the queue would not take
        is dropped and, if nothing else keeps the message, an INBOX copy is
        added (the caller must store it): a filter never loses mail. A
        vacation reply goes out only if the store's memory allows it; a
        failure to queue one is logged and loses nothing.
        """
        notes = list(plan.notes)
        failed = False
        for out in plan.redirects:
            try:
                await self._enqueue(out)
            except Exception as e:  # noqa: BLE001 - the message must still land somewhere
                failed = True
                notes.append(f"redirect to {', '.join(out.recipients)} not queued: {e}")
        vacation = plan.vacation
        if vacation is not None:
            try:
                if await self.store.vacation_should_reply(account, vacation.sender, vacation.handle,
                                                          vacation.period, self.clock()):
                    await self._enqueue(vacation.outgoing)
                else:
                    notes.append(f"vacation to {vacation.sender} not sent: already answered within the period")
                    vacation = None
            except Exception as e:  # noqa: BLE001 - a lost auto-reply loses no mail
                notes.append(f"vacation to {vacation.sender} not queued: {e}")
                vacation = None
        extra: tuple[StoreCopy, ...] = ()
        if failed and not plan.stores:
            extra = (StoreCopy(Recipient(account), plan.fallback),)
            notes.append("kept in INBOX instead")
        return replace(plan, vacation=vacation, notes=tuple(notes), stores=plan.stores + extra)

    async def _enqueue(self, out: Outgoing) -> None:
        if self.queue is None:
            raise MailError(ErrorKind.TEMP, "no outgoing queue")
        queue = self.queue
        entry = await asyncio.to_thread(queue.enqueue, out.sender, out.recipients, out.message)
        log.info("sieve: queued %s for %s from <%s>", entry, ", ".join(out.recipients), out.sender)
