"""Lookups every part of the PostgreSQL store shares (inside a transaction).

The same rules as the embedded store's helpers of the same names; what is
backend-neutral (flag bits, MessageMeta from rows ...) is in
``hivemail.mailstore.rows``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import asyncpg

from hivemail.mailstore.errors import ErrorKind, MailError
from hivemail.mailstore.postgres.base import Ctx
from hivemail.mailstore.types import MailboxInfo

MAILBOX_COLUMNS = "id, account_id, name, uidvalidity, uidnext, highestmodseq, subscribed, special_use"
META_COLUMNS = ("uid, modseq, sysflags, keywords, internal_date, internal_tz, save_date, "
                "size, blob_id, explicit_uidl")


def mailbox_info(row: asyncpg.Record | Sequence) -> MailboxInfo:
    return MailboxInfo(row[0], row[1], row[2], row[3], row[4], row[5], bool(row[6]), row[7])


async def next_uidvalidity(conn: asyncpg.Connection) -> int:
    """Time-based and strictly increasing across the whole store (RFC 9051
    section 2.3.1.1): a mailbox recreated under the same name gets a new
    one. The meta row is locked until the caller's COMMIT."""
    value = await conn.fetchval(
        "UPDATE meta SET value = greatest($1::bigint, value + 1) WHERE key = 'last_uidvalidity'"
        " RETURNING value", int(time.time()))
    if value >= 1 << 32:
        raise MailError(ErrorKind.TEMP, "UIDVALIDITY space exhausted")
    return value


async def insert_mailbox(conn: asyncpg.Connection, account_id: int, name: str, special_use: str | None,
                         subscribed: bool = False, uidnext: int = 1, highestmodseq: int = 1) -> MailboxInfo:
    uidvalidity = await next_uidvalidity(conn)
    mailbox_id = await conn.fetchval(
        "INSERT INTO mailboxes(account_id, name, uidvalidity, uidnext, highestmodseq, subscribed,"
        " special_use) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        account_id, name, uidvalidity, uidnext, highestmodseq, subscribed, special_use)
    return MailboxInfo(mailbox_id, account_id, name, uidvalidity, uidnext, highestmodseq, subscribed, special_use)


async def account_row(conn: asyncpg.Connection, account: str) -> asyncpg.Record:
    """(id, quota_bytes, quota_messages); raises NOT_FOUND."""
    row = await conn.fetchrow("SELECT id, quota_bytes, quota_messages FROM accounts WHERE name = $1", account)
    if row is None:
        raise MailError(ErrorKind.NOT_FOUND, f"no account {account}")
    return row


async def account_id(conn: asyncpg.Connection, account: str) -> int:
    return (await account_row(conn, account))[0]


async def mailbox_row(conn: asyncpg.Connection, account_id: int, name: str, *,
                      for_update: bool = False) -> asyncpg.Record:
    """The mailbox's MAILBOX_COLUMNS; ``for_update`` locks the row until
    COMMIT (UID/MODSEQ allocation). Raises NOT_FOUND."""
    row = await conn.fetchrow(
        f"SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE account_id = $1 AND name = $2"
        + (" FOR UPDATE" if for_update else ""), account_id, name)
    if row is None:
        raise MailError(ErrorKind.NOT_FOUND, f"no mailbox {name!r}")
    return row


async def mailbox_by_id(conn: asyncpg.Connection, mailbox_id: int, *, for_update: bool = False) -> asyncpg.Record:
    row = await conn.fetchrow(f"SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE id = $1"
                              + (" FOR UPDATE" if for_update else ""), mailbox_id)
    if row is None:
        raise MailError(ErrorKind.NOT_FOUND, f"no mailbox with id {mailbox_id}")
    return row


async def check_quota(conn: asyncpg.Connection, account: asyncpg.Record, add_bytes: int, add_messages: int) -> None:
    """Raise unless ``add_messages`` more messages of ``add_bytes`` fit the
    account's quota: QUOTA_TOO_BIG if they could never fit, NO_QUOTA
    otherwise (the embedded store's rule). The usage row is locked, so two
    nodes delivering to one account at once cannot both squeeze in."""
    account_id, quota_bytes, quota_messages = account[0], account[1], account[2]
    if quota_bytes is None and quota_messages is None:
        return
    if (quota_bytes is not None and add_bytes > quota_bytes) \
            or (quota_messages is not None and add_messages > quota_messages):
        raise MailError(ErrorKind.QUOTA_TOO_BIG, "Quota exceeded (message is larger than the quota limit)")
    row = await conn.fetchrow("SELECT bytes, messages FROM account_usage WHERE account_id = $1 FOR UPDATE",
                              account_id)
    used_bytes, used_messages = (row[0], row[1]) if row is not None else (0, 0)
    if (quota_bytes is not None and used_bytes + add_bytes > quota_bytes) \
            or (quota_messages is not None and used_messages + add_messages > quota_messages):
        raise MailError(ErrorKind.NO_QUOTA, "Quota exceeded (mailbox for user is full)")


async def bump(conn: asyncpg.Connection, ctx: Ctx, mailbox_id: int) -> int:
    """A new MODSEQ for the mailbox (its row locked until COMMIT)."""
    modseq = await conn.fetchval(
        "UPDATE mailboxes SET highestmodseq = highestmodseq + 1 WHERE id = $1 RETURNING highestmodseq",
        mailbox_id)
    if modseq is None:
        raise MailError(ErrorKind.NOT_FOUND, f"no mailbox with id {mailbox_id}")
    ctx.changed[mailbox_id] = modseq
    return modseq


async def expunge_uids(conn: asyncpg.Connection, ctx: Ctx, mailbox_id: int, uids: Sequence[int]) -> int:
    """Delete rows, leave tombstones at one new MODSEQ; returns it."""
    modseq = await bump(conn, ctx, mailbox_id)
    await conn.execute(
        "INSERT INTO expunged(mailbox_id, uid, modseq, append_modseq)"
        " SELECT mailbox_id, uid, $1, append_modseq FROM messages WHERE mailbox_id = $2 AND uid = ANY($3::bigint[])"
        " ON CONFLICT (mailbox_id, uid) DO UPDATE SET modseq = EXCLUDED.modseq,"
        " append_modseq = EXCLUDED.append_modseq",
        modseq, mailbox_id, list(uids))
    await conn.execute("DELETE FROM messages WHERE mailbox_id = $1 AND uid = ANY($2::bigint[])",
                       mailbox_id, list(uids))
    ctx.unreferenced = True
    return modseq
