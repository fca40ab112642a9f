"""Local delivery: resolve recipients, filter, analyse the message once, store it.

Shared by the LMTP and SMTP listeners and by ``hivemail deliver``: each turns
the per-recipient result of :func:`deliver` into its own words (reply codes,
exit status) in one function of its own. Sieve filtering (issue 8) is
planned in ``filtering.py`` and carried out here, in the one place all
three paths share.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import secrets
import time
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

from hivemail.config import Config
from hivemail.lmtp.filtering import Plan, SieveFilter, StoreCopy
from hivemail.mailstore import AppendResult, ErrorKind, MailError, MailStore, Recipient
from hivemail.mime import analyse, normalise_crlf

log = logging.getLogger("hivemail.lmtp")


@dataclass(frozen=True)
class Resolved:
    """What an envelope recipient address delivers to."""

    address: str          # as given, for Received: "for <...>"
    account: str | None   # None: nobody here
    local_domain: bool    # the domain is one of ours (decides 5.1.1 vs 5.7.1)
    detail: str = ""      # the +tag, kept for Sieve (RFC 5233)


def split_address(address: str) -> tuple[str, str]:
    local, at, domain = address.rpartition("@")
    if not at:
        return address, ""
    return local, domain


async def resolve(store: MailStore, config: Config, address: str) -> Resolved:
    """Aliases first, then accounts; ``user+tag@d`` falls back to ``user@d``."""
    local, domain = split_address(address)
    domain = domain.lower().rstrip(".")
    full = f"{local.lower()}@{domain}" if domain else local.lower()
    account = await store.resolve_address(full)
    detail = ""
    delim = config.delivery.recipient_delimiter
    if account is None and delim and delim in local:
        base, _, detail = local.partition(delim)
        account = await store.resolve_address(f"{base.lower()}@{domain}" if domain else base.lower())
    local_domain = account is not None or domain in await store.list_domains()
    return Resolved(address, account, local_domain, detail)


def analyse_to_bytes(raw: bytes) -> bytes:
    return analyse(raw).to_bytes()


def trace_headers(
    config: Config,
    *,
    mail_from: str,
    helo: str,
    peer_ip: str,
    protocol: str,
    recipients: Sequence[str],
    session_id: str,
) -> bytes:
    """``Return-Path:`` (RFC 5321 4.4, added by the final delivery) and
    ``Received:`` (RFC 5321 4.4 trace, "for" only with one recipient so that
    one copy serves every recipient of a bulk message)."""
    out = []
    if config.delivery.add_return_path:
        out.append(f"Return-Path: <{mail_from}>\r\n")
    if config.delivery.add_received:
        source = f"from {helo or 'unknown'} ([{peer_ip}])\r\n\t" if peer_ip else ""
        rcpt = f"\r\n\tfor <{recipients[0]}>" if len(recipients) == 1 else ""
        date = email.utils.formatdate(time.time(), localtime=True)
        out.append(
            f"Received: {source}by {config.hostname} (hivemail) with {protocol} id {session_id}{rcpt};\r\n\t{date}\r\n"
        )
    return "".join(out).encode("utf-8", "surrogateescape")


def new_session_id() -> str:
    return secrets.token_hex(8)


@dataclass(frozen=True)
class Refused:
    """The recipient's filter refused the message (Sieve reject/ereject,
    RFC 5429): a permanent failure for this recipient only."""

    reason: str


@dataclass(frozen=True)
class NotStored:
    """Delivered, and no copy stored: the recipient's filter discarded the
    message or only redirected it. ``how`` is "discarded" or "redirected"."""

    how: str


# A filed copy that fails with one of these is delivered to INBOX instead
# (what dovecot-lda does: "If a message couldn't be saved to the mailbox for
# any reason, it's delivered to INBOX instead"). Quota, size and temporary
# errors are not about the mailbox: they are reported as they are.
_RETRY_IN_INBOX = frozenset({
    ErrorKind.NOT_FOUND, ErrorKind.BAD_NAME, ErrorKind.NOT_ALLOWED, ErrorKind.EXISTS,
    ErrorKind.HAS_CHILDREN, ErrorKind.IN_USE, ErrorKind.CORRUPT, ErrorKind.EXPUNGED,
})


async def deliver(
    store: MailStore,
    executor: Executor | None,
    raw_with_trace: bytes,
    targets: Sequence[Recipient],
    *,
    sieve: SieveFilter | None = None,
    mail_from: str = "",
    rcpt_addresses: Sequence[str] = (),
) -> list[object]:
    """Normalise to CRLF, filter, analyse off the event loop, store for every target.

    With ``sieve``, each target delivered to INBOX without flags runs its
    account's active script (``lmtp/filtering.py``): ``mail_from`` is the
    envelope sender ("" for ``<>``) and ``rcpt_addresses[i]`` the RCPT
    address of ``targets[i]`` as given (+detail included). The redirects and
    vacation replies a script asks for are in the outgoing queue before this
    returns, so before the caller acknowledges anything.

    Returns, per target and in order: an AppendResult (a copy was stored; the
    first one), ``NotStored`` (discarded or only redirected), ``Refused``
    (reject/ereject) or a MailError.
    """
    raw = normalise_crlf(raw_with_trace)
    plans: list[Plan | None] = []
    results: list[object | None] = []
    for i, target in enumerate(targets):
        plan, result = await _plan(sieve, target, raw, mail_from, rcpt_addresses[i] if i < len(rcpt_addresses) else "")
        plans.append(plan)
        results.append(result)
    outcome = _Stored(len(targets))
    await _store_copies(store, executor, outcome, [(i, c) for i, p in enumerate(plans) if p for c in p.stores])
    await _refile_in_inbox(store, executor, outcome, plans)
    if sieve is not None:
        for i, plan in enumerate(plans):
            if plan is None or not plan.filtered or outcome.errors[i]:
                # After a failure the sender retries, and the outgoing mail goes then.
                continue
            sent = await sieve.send(targets[i].account, plan)
            _log_plan(targets[i].account, sent)
            added = sent.stores[len(plan.stores):]
            if added:
                await _store_copies(store, executor, outcome, [(i, c) for c in added])
            plans[i] = sent
    return [
        result if result is not None else outcome.result_for(i, plans[i])
        for i, result in enumerate(results)
    ]


async def _plan(
    sieve: SieveFilter | None, target: Recipient, raw: bytes, mail_from: str, address: str
) -> tuple[Plan | None, object | None]:
    """-> (plan, None), or (None, the final result: Refused or a temporary MailError)."""
    if sieve is None or target.mailbox != "INBOX" or target.flags:
        return Plan(stores=(StoreCopy(target, raw),), fallback=raw), None
    try:
        plan = await sieve.plan(target.account, address or target.account, mail_from, raw)
    except MailError as e:
        return None, e
    if not plan.filtered:
        _log_plan(target.account, plan)
    if plan.refusal is not None:
        _log_plan(target.account, plan)
        return None, Refused(plan.refusal.reason)
    return plan, None


class _Stored:
    """Per target: the copies stored (AppendResults) and the errors met."""

    def __init__(self, n: int) -> None:
        self.stored: list[list[tuple[StoreCopy, AppendResult]]] = [[] for _ in range(n)]
        self.failed: list[list[tuple[StoreCopy, MailError]]] = [[] for _ in range(n)]

    @property
    def errors(self) -> list[bool]:
        return [bool(f) for f in self.failed]

    def result_for(self, i: int, plan: Plan | None) -> object:
        if self.failed[i]:
            return self.failed[i][0][1]
        if self.stored[i]:
            inbox = [r for c, r in self.stored[i] if c.recipient.mailbox == "INBOX"]
            return (inbox or [r for _, r in self.stored[i]])[0]
        return NotStored("redirected" if plan is not None and plan.redirects else "discarded")


async def _store_copies(
    store: MailStore, executor: Executor | None, out: _Stored, copies: list[tuple[int, StoreCopy]]
) -> None:
    """Store ``copies`` (target index, copy): the bytes of a group that shares
    them analysed and written once (bulk-identical messages are stored once;
    without filters every copy shares the received bytes)."""
    for copy in {(c.recipient.account, c.recipient.mailbox): c for _, c in copies if c.create}.values():
        try:
            await store.create_mailbox(copy.recipient.account, copy.recipient.mailbox)
        except MailError as e:
            if e.kind != ErrorKind.EXISTS:
                log.warning("sieve: cannot create %r for %s: %s", copy.recipient.mailbox, copy.recipient.account, e.text)
    groups: dict[int, list[tuple[int, StoreCopy]]] = {}
    for i, c in copies:
        groups.setdefault(id(c.raw), []).append((i, c))
    loop = asyncio.get_running_loop()
    for group in groups.values():
        raw = group[0][1].raw
        try:
            analysis = await loop.run_in_executor(executor, analyse_to_bytes, raw)
        except Exception as e:  # analyse() never raises; a crashed worker is a temp failure
            results: list[object] = [MailError(ErrorKind.TEMP, f"analysis failed: {e}")] * len(group)
        else:
            try:
                results = list(await store.deliver([c.recipient for _, c in group], raw, analysis))
            except MailError as e:
                results = [e] * len(group)
        for (i, c), res in zip(group, results):
            if isinstance(res, AppendResult):
                out.stored[i].append((c, res))
            else:
                assert isinstance(res, MailError)
                out.failed[i].append((c, res))


async def _refile_in_inbox(
    store: MailStore, executor: Executor | None, out: _Stored, plans: Sequence[Plan | None]
) -> None:
    """A filed copy that failed for a reason of its mailbox goes to INBOX,
    plain, once per target (never for the unfiltered delivery, whose
    errors are the recipient's: NOT_FOUND is "user unknown" there)."""
    retry: list[tuple[int, StoreCopy]] = []
    for i, plan in enumerate(plans):
        failed = out.failed[i]
        if plan is None or not plan.filtered or not failed:
            continue
        if not all(e.kind in _RETRY_IN_INBOX for _, e in failed):
            continue
        for c, e in failed:
            log.warning("sieve: %s: cannot store in %r (%s); delivering to INBOX", c.recipient.account,
                        c.recipient.mailbox, e.text)
        out.failed[i] = []
        if not any(c.recipient.mailbox == "INBOX" for c, _ in out.stored[i]):
            retry.append((i, StoreCopy(Recipient(failed[0][0].recipient.account), plan.fallback)))
    if retry:
        await _store_copies(store, executor, out, retry)


def _log_plan(account: str, plan: Plan) -> None:
    for note in plan.notes:
        log.warning("sieve: %s: %s", account, note)
    if not plan.filtered:
        return
    parts = [f"{c.recipient.mailbox}{' ' + ' '.join(sorted(c.recipient.flags)) if c.recipient.flags else ''}"
             for c in plan.stores]
    parts += [f"redirect to {', '.join(r.recipients)}" for r in plan.redirects]
    if plan.vacation is not None:
        parts.append(f"vacation to {plan.vacation.sender}")
    if plan.refusal is not None:
        parts.append(f"reject: {plan.refusal.reason}")
    log.info("sieve: %s: %s", account, "; ".join(parts) or "discard")
