"""Local delivery: resolve recipients, analyse the message once, store it.

Shared by the LMTP and SMTP listeners and by ``hivemail deliver``: each turns
the per-recipient :class:`Outcome` into its own words (reply codes, exit
status) in one function of its own.
"""

from __future__ import annotations

import asyncio
import email.utils
import secrets
import time
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

from hivemail.config import Config
from hivemail.mailstore import ErrorKind, MailError, MailStore, Recipient
from hivemail.mime import analyse, normalise_crlf


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


async def deliver(
    store: MailStore,
    executor: Executor | None,
    raw_with_trace: bytes,
    targets: Sequence[Recipient],
) -> list[object]:
    """Normalise to CRLF, analyse off the event loop, store for every target.

    Returns one AppendResult or MailError per target, in order.
    """
    loop = asyncio.get_running_loop()
    raw = normalise_crlf(raw_with_trace)
    try:
        analysis = await loop.run_in_executor(executor, analyse_to_bytes, raw)
    except Exception as e:  # analyse() never raises; a crashed worker is a temp failure
        return [MailError(ErrorKind.TEMP, f"analysis failed: {e}") for _ in targets]
    try:
        return list(await store.deliver(targets, raw, analysis))
    except MailError as e:
        return [e for _ in targets]
