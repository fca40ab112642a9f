"""PostgreSQL store: accounts, domains, aliases, settings, quota, Sieve
scripts and vacation memory, and mailboxes.

The same rules as the embedded store's functions of the same names
(``embedded/store.py``). What a single SQLite writer gave for free, several
nodes get from row locks here:

* an address is one account or one alias: both creations take a
  transaction advisory lock on the address before they check it;
* the mailbox hierarchy of an account (create with parents, rename with
  children) and its Sieve scripts (one active) change under a lock on the
  account's row (``FOR NO KEY UPDATE``: it does not block the inserts that
  refer to the account), so check-then-write is exact per account;
* a mailbox's UIDs and MODSEQs are allocated under its own row lock
  (``rows.bump``), as every other writer of the mailbox does.
"""

from __future__ import annotations

import time

import asyncpg

from hivemail.mailstore import names
from hivemail.mailstore.errors import ErrorKind, MailError
from hivemail.mailstore.postgres.base import Ctx, PostgresBase, key32
from hivemail.mailstore.postgres.rows import (
    MAILBOX_COLUMNS,
    account_id as _account_id,
    bump,
    insert_mailbox,
    mailbox_info,
    mailbox_row,
)
from hivemail.mailstore.rows import DELETED, SEEN
from hivemail.mailstore.types import SEPARATOR, DEFAULT_MAILBOXES, AccountInfo, MailboxInfo, MailboxStatus, QuotaInfo

# ctx.changed value of a mailbox that is gone: wakes every waiter.
GONE = 1 << 62
# Advisory lock key space of addresses (accounts and aliases); base.py's
# spaces are 0x6876_0001 .. 0x6876_0004.
LOCK_ADDRESS = 0x6876_0010

_ACCOUNT_COLUMNS = "id, name, password_hash, scram, quota_bytes, quota_messages"


def _norm(account: str) -> str:
    return account.strip().lower()


def _count(status: str) -> int:
    """Rows affected, from asyncpg's command tag ("UPDATE 3")."""
    return int(status.rpartition(" ")[2] or 0)


class AccountsPart(PostgresBase):
    """Accounts, Sieve and mailboxes (see the module doc)."""

    # -- accounts, domains, aliases ---------------------------------------------

    async def create_account(self, name: str, password_hash: str, scram: str = "") -> AccountInfo:
        return await self._write(_tx_create_account, names.account_name(name), password_hash, scram)

    async def get_account(self, name: str) -> AccountInfo | None:
        return await self._read(_r_account, _norm(name))

    async def list_accounts(self) -> list[AccountInfo]:
        return await self._read(_r_accounts)

    async def set_password(self, name: str, password_hash: str, scram: str = "") -> None:
        await self._write(_tx_update_account, _norm(name), "password_hash = $2, scram = $3",
                          (password_hash, scram))

    async def set_account_setting(self, name: str, key: str, value: str) -> None:
        await self._write(_tx_set_setting, _norm(name), key, value)

    async def set_quota(self, name: str, quota_bytes: int | None, quota_messages: int | None) -> None:
        await self._write(_tx_update_account, _norm(name), "quota_bytes = $2, quota_messages = $3",
                          (quota_bytes, quota_messages))

    async def get_quota(self, name: str) -> QuotaInfo:
        return await self._read(_r_quota, _norm(name))

    async def delete_account(self, name: str) -> None:
        await self._write(_tx_delete_account, _norm(name))

    async def add_domain(self, domain: str) -> None:
        domain = domain.strip().lower()
        if not domain or any(c.isspace() or c in "@/" for c in domain):
            raise MailError(ErrorKind.BAD_NAME, f"bad domain {domain!r}")
        await self._write(lambda conn, ctx: conn.execute(
            "INSERT INTO domains(name) VALUES ($1) ON CONFLICT DO NOTHING", domain))

    async def list_domains(self) -> list[str]:
        return await self._read(lambda conn: _column(conn, 'SELECT name FROM domains ORDER BY name COLLATE "C"'))

    async def add_alias(self, address: str, account: str) -> None:
        await self._write(_tx_add_alias, names.account_name(address), _norm(account))

    async def resolve_address(self, address: str) -> str | None:
        return await self._read(_r_resolve, _norm(address))

    # -- Sieve scripts and vacation memory --------------------------------------

    async def sieve_put(self, account: str, name: str, script: str) -> None:
        await self._write(_tx_sieve_put, _norm(account), name, script, int(time.time()))

    async def sieve_get(self, account: str, name: str) -> str:
        return await self._read(_r_sieve_get, _norm(account), name)

    async def sieve_list(self, account: str) -> list[tuple[str, bool]]:
        return await self._read(_r_sieve_list, _norm(account))

    async def sieve_activate(self, account: str, name: str | None) -> None:
        await self._write(_tx_sieve_activate, _norm(account), name)

    async def sieve_delete(self, account: str, name: str) -> None:
        await self._write(_tx_sieve_delete, _norm(account), name)

    async def sieve_rename(self, account: str, old: str, new: str) -> None:
        await self._write(_tx_sieve_rename, _norm(account), old, new)

    async def sieve_active(self, account: str) -> tuple[str, str] | None:
        return await self._read(_r_sieve_active, _norm(account))

    async def vacation_should_reply(self, account: str, sender: str, handle: str, period: float,
                                    now: float) -> bool:
        return await self._write(_tx_vacation, _norm(account), _norm(sender), handle, period, int(now))

    # -- mailboxes ----------------------------------------------------------------

    async def list_mailboxes(self, account: str) -> list[MailboxInfo]:
        return await self._read(_r_list_mailboxes, _norm(account))

    async def get_mailbox(self, account: str, name: str) -> MailboxInfo:
        return await self._read(_r_get_mailbox, _norm(account), names.mailbox_name(name))

    async def create_mailbox(self, account: str, name: str, special_use: str | None = None) -> MailboxInfo:
        return await self._write(_tx_create_mailbox, _norm(account), names.mailbox_name(name), special_use)

    async def delete_mailbox(self, account: str, name: str) -> None:
        canonical = names.mailbox_name(name)
        if names.is_inbox(canonical):
            raise MailError(ErrorKind.NOT_ALLOWED, "INBOX cannot be deleted")
        await self._write(_tx_delete_mailbox, _norm(account), canonical)

    async def rename_mailbox(self, account: str, old: str, new: str) -> None:
        await self._write(_tx_rename_mailbox, _norm(account), names.mailbox_name(old), names.mailbox_name(new))

    async def set_subscribed(self, account: str, name: str, subscribed: bool) -> None:
        await self._write(_tx_set_subscribed, _norm(account), names.mailbox_name(name), subscribed)

    async def mailbox_status(self, account: str, name: str) -> MailboxStatus:
        return await self._read(_r_status, _norm(account), names.mailbox_name(name))


async def _column(conn: asyncpg.Connection, query: str, *args) -> list:
    return [r[0] for r in await conn.fetch(query, *args)]


async def _locked_account(conn: asyncpg.Connection, account: str) -> int:
    """The account's id, its row locked until COMMIT: changes to one
    account's mailbox hierarchy or Sieve scripts run one at a time."""
    account_id = await conn.fetchval("SELECT id FROM accounts WHERE name = $1 FOR NO KEY UPDATE", account)
    if account_id is None:
        raise MailError(ErrorKind.NOT_FOUND, f"no account {account}")
    return account_id


async def _address_taken(conn: asyncpg.Connection, address: str) -> bool:
    """Whether an account or alias has ``address``, under a lock on the
    address until COMMIT (no node creates it meanwhile)."""
    await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", LOCK_ADDRESS, key32(address))
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM accounts WHERE name = $1) OR EXISTS (SELECT 1 FROM aliases WHERE address = $1)",
        address))


# -- account jobs -------------------------------------------------------------------


async def _tx_create_account(conn: asyncpg.Connection, ctx: Ctx, account: str, password_hash: str,
                             scram: str) -> AccountInfo:
    if await _address_taken(conn, account):
        raise MailError(ErrorKind.EXISTS, f"account {account} exists")
    account_id = await conn.fetchval(
        "INSERT INTO accounts(name, password_hash, scram) VALUES ($1, $2, $3) RETURNING id",
        account, password_hash, scram)
    domain = names.domain_of(account)
    if domain:
        await conn.execute("INSERT INTO domains(name) VALUES ($1) ON CONFLICT DO NOTHING", domain)
    for mailbox, special_use in DEFAULT_MAILBOXES:
        await insert_mailbox(conn, account_id, mailbox, special_use, subscribed=True)
    return AccountInfo(account_id, account, password_hash, scram)


async def _tx_update_account(conn: asyncpg.Connection, ctx: Ctx, account: str, assignments: str,
                             values: tuple) -> None:
    status = await conn.execute(f"UPDATE accounts SET {assignments} WHERE name = $1", account, *values)
    if _count(status) == 0:
        raise MailError(ErrorKind.NOT_FOUND, f"no account {account}")


async def _tx_set_setting(conn: asyncpg.Connection, ctx: Ctx, account: str, key: str, value: str) -> None:
    await conn.execute("INSERT INTO account_settings(account_id, key, value) VALUES ($1, $2, $3)"
                       " ON CONFLICT (account_id, key) DO UPDATE SET value = EXCLUDED.value",
                       await _account_id(conn, account), key, value)


async def _tx_delete_account(conn: asyncpg.Connection, ctx: Ctx, account: str) -> None:
    account_id = await _account_id(conn, account)
    # The cascade deletes the mailboxes; their BEFORE DELETE trigger deletes
    # the messages first, which releases the blobs' references.
    for mailbox_id in await _column(conn, "SELECT id FROM mailboxes WHERE account_id = $1", account_id):
        ctx.changed[mailbox_id] = GONE
    await conn.execute("DELETE FROM accounts WHERE id = $1", account_id)
    ctx.unreferenced = True


async def _tx_add_alias(conn: asyncpg.Connection, ctx: Ctx, address: str, account: str) -> None:
    account_id = await _account_id(conn, account)
    if await _address_taken(conn, address):
        raise MailError(ErrorKind.EXISTS, f"address {address} is taken")
    await conn.execute("INSERT INTO aliases(address, account_id) VALUES ($1, $2)", address, account_id)


def _account_info(row: asyncpg.Record, settings: dict[str, str]) -> AccountInfo:
    return AccountInfo(row[0], row[1], row[2], row[3], row[4], row[5], settings=settings)


async def _r_account(conn: asyncpg.Connection, account: str) -> AccountInfo | None:
    row = await conn.fetchrow(f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE name = $1", account)
    if row is None:
        return None
    settings = await conn.fetch("SELECT key, value FROM account_settings WHERE account_id = $1", row[0])
    return _account_info(row, {r[0]: r[1] for r in settings})


async def _r_accounts(conn: asyncpg.Connection) -> list[AccountInfo]:
    settings: dict[int, dict[str, str]] = {}
    for account_id, key, value in await conn.fetch("SELECT account_id, key, value FROM account_settings"):
        settings.setdefault(account_id, {})[key] = value
    # COLLATE "C": byte order, as SQLite's (not the database's locale).
    return [_account_info(row, settings.get(row[0], {})) for row in await conn.fetch(
        f'SELECT {_ACCOUNT_COLUMNS} FROM accounts ORDER BY name COLLATE "C"')]


async def _r_quota(conn: asyncpg.Connection, account: str) -> QuotaInfo:
    row = await conn.fetchrow(
        "SELECT a.quota_bytes, a.quota_messages, coalesce(u.bytes, 0), coalesce(u.messages, 0)"
        " FROM accounts a LEFT JOIN account_usage u ON u.account_id = a.id WHERE a.name = $1", account)
    if row is None:
        raise MailError(ErrorKind.NOT_FOUND, f"no account {account}")
    return QuotaInfo(row[0], row[1], row[2], row[3])


async def _r_resolve(conn: asyncpg.Connection, address: str) -> str | None:
    return await conn.fetchval(
        "SELECT name FROM accounts WHERE name = $1"
        " UNION ALL SELECT a.name FROM aliases l JOIN accounts a ON a.id = l.account_id WHERE l.address = $1"
        " LIMIT 1", address)


# -- Sieve scripts and vacation memory ------------------------------------------------


async def _script_active(conn: asyncpg.Connection, account_id: int, name: str) -> bool:
    """Whether the script is the active one; NOT_FOUND if there is none."""
    active = await conn.fetchval("SELECT active FROM sieve_scripts WHERE account_id = $1 AND name = $2",
                                 account_id, name)
    if active is None:
        raise MailError(ErrorKind.NOT_FOUND, f"no script {name!r}")
    return active


async def _tx_sieve_put(conn: asyncpg.Connection, ctx: Ctx, account: str, name: str, script: str,
                        now: int) -> None:
    await conn.execute("INSERT INTO sieve_scripts(account_id, name, script, updated) VALUES ($1, $2, $3, $4)"
                       " ON CONFLICT (account_id, name) DO UPDATE SET script = EXCLUDED.script,"
                       " updated = EXCLUDED.updated", await _locked_account(conn, account), name, script, now)


async def _r_sieve_get(conn: asyncpg.Connection, account: str, name: str) -> str:
    script = await conn.fetchval("SELECT script FROM sieve_scripts WHERE account_id = $1 AND name = $2",
                                 await _account_id(conn, account), name)
    if script is None:
        raise MailError(ErrorKind.NOT_FOUND, f"no script {name!r}")
    return script


async def _r_sieve_list(conn: asyncpg.Connection, account: str) -> list[tuple[str, bool]]:
    return [(r[0], r[1]) for r in await conn.fetch(
        'SELECT name, active FROM sieve_scripts WHERE account_id = $1 ORDER BY name COLLATE "C"',
        await _account_id(conn, account))]


async def _tx_sieve_activate(conn: asyncpg.Connection, ctx: Ctx, account: str, name: str | None) -> None:
    # RFC 5804 2.8: None deactivates; otherwise the one named becomes the
    # only active script (sieve_one_active: deactivate first).
    account_id = await _locked_account(conn, account)
    if name is not None:
        await _script_active(conn, account_id, name)
    await conn.execute("UPDATE sieve_scripts SET active = FALSE WHERE account_id = $1 AND active", account_id)
    if name is not None:
        await conn.execute("UPDATE sieve_scripts SET active = TRUE WHERE account_id = $1 AND name = $2",
                           account_id, name)


async def _tx_sieve_delete(conn: asyncpg.Connection, ctx: Ctx, account: str, name: str) -> None:
    account_id = await _locked_account(conn, account)
    if await _script_active(conn, account_id, name):
        # RFC 5804 2.10: the active script cannot be deleted (NO (ACTIVE)).
        raise MailError(ErrorKind.IN_USE, f"script {name!r} is active")
    await conn.execute("DELETE FROM sieve_scripts WHERE account_id = $1 AND name = $2", account_id, name)


async def _tx_sieve_rename(conn: asyncpg.Connection, ctx: Ctx, account: str, old: str, new: str) -> None:
    account_id = await _locked_account(conn, account)
    await _script_active(conn, account_id, old)
    if await conn.fetchval("SELECT 1 FROM sieve_scripts WHERE account_id = $1 AND name = $2", account_id, new):
        raise MailError(ErrorKind.EXISTS, f"script {new!r} exists")
    await conn.execute("UPDATE sieve_scripts SET name = $3 WHERE account_id = $1 AND name = $2",
                       account_id, old, new)


async def _r_sieve_active(conn: asyncpg.Connection, account: str) -> tuple[str, str] | None:
    row = await conn.fetchrow("SELECT s.name, s.script FROM sieve_scripts s JOIN accounts a ON a.id = s.account_id"
                              " WHERE a.name = $1 AND s.active", account)
    return None if row is None else (row[0], row[1])


async def _tx_vacation(conn: asyncpg.Connection, ctx: Ctx, account: str, sender: str, handle: str,
                       period: float, now: int) -> bool:
    """RFC 5230 4.2: at most one reply per sender and handle per period.
    One statement checks and records: of two deliveries at once (on any
    nodes), the second waits for the first's row and then finds it recent."""
    recorded = await conn.fetchval(
        "INSERT INTO sieve_vacation(account_id, sender, handle, replied) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (account_id, sender, handle) DO UPDATE SET replied = EXCLUDED.replied"
        " WHERE sieve_vacation.replied <= $5::float8 RETURNING 1",
        await _account_id(conn, account), sender, handle, now, float(now - period))
    return recorded is not None


# -- mailbox jobs ------------------------------------------------------------------


async def _r_list_mailboxes(conn: asyncpg.Connection, account: str) -> list[MailboxInfo]:
    return [mailbox_info(row) for row in await conn.fetch(
        f'SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE account_id = $1 ORDER BY name COLLATE "C"',
        await _account_id(conn, account))]


async def _r_get_mailbox(conn: asyncpg.Connection, account: str, name: str) -> MailboxInfo:
    return mailbox_info(await mailbox_row(conn, await _account_id(conn, account), name))


async def _exists(conn: asyncpg.Connection, account_id: int, name: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM mailboxes WHERE account_id = $1 AND name = $2",
                                    account_id, name))


async def _tx_create_mailbox(conn: asyncpg.Connection, ctx: Ctx, account: str, name: str,
                             special_use: str | None) -> MailboxInfo:
    account_id = await _locked_account(conn, account)
    if await _exists(conn, account_id, name):
        raise MailError(ErrorKind.EXISTS, f"mailbox {name!r} exists")
    await _create_parents(conn, account_id, name)
    return await insert_mailbox(conn, account_id, name, special_use)


async def _create_parents(conn: asyncpg.Connection, account_id: int, name: str) -> None:
    for parent in names.parents(name):
        if not await _exists(conn, account_id, parent):
            await insert_mailbox(conn, account_id, parent, None)


async def _tx_delete_mailbox(conn: asyncpg.Connection, ctx: Ctx, account: str, name: str) -> None:
    # Locked first: a delivery in progress into it commits before, and the
    # trigger (hivemail_mailbox_gone) then deletes its message too.
    box = await mailbox_row(conn, await _account_id(conn, account), name, for_update=True)
    await conn.execute("DELETE FROM mailboxes WHERE id = $1", box[0])
    ctx.changed[box[0]] = GONE
    ctx.unreferenced = True


async def _tx_rename_mailbox(conn: asyncpg.Connection, ctx: Ctx, account: str, old: str, new: str) -> None:
    account_id = await _locked_account(conn, account)
    box = await mailbox_row(conn, account_id, old, for_update=True)
    if old == new or names.is_inbox(new) or await _exists(conn, account_id, new):
        raise MailError(ErrorKind.EXISTS, f"mailbox {new!r} exists")
    if names.is_inbox(old):
        # RFC 9051 6.3.6: move INBOX's messages into a new mailbox; INBOX
        # stays, empty, with its UIDVALIDITY and UIDNEXT; its inferiors are
        # not renamed. The UIDs move with the messages: the new mailbox has a
        # fresh UIDVALIDITY, so keeping them is allowed and cheap. INBOX's
        # clients see them expunged at one new MODSEQ.
        await _create_parents(conn, account_id, new)
        target = await insert_mailbox(conn, account_id, new, None, uidnext=box[4], highestmodseq=box[5])
        modseq = await bump(conn, ctx, box[0])
        await conn.execute(
            "INSERT INTO expunged(mailbox_id, uid, modseq, append_modseq)"
            " SELECT mailbox_id, uid, $1, append_modseq FROM messages WHERE mailbox_id = $2"
            " ON CONFLICT (mailbox_id, uid) DO UPDATE SET modseq = EXCLUDED.modseq,"
            " append_modseq = EXCLUDED.append_modseq", modseq, box[0])
        await conn.execute("UPDATE messages SET mailbox_id = $1 WHERE mailbox_id = $2", target.id, box[0])
        return
    if names.is_descendant(new, old):
        raise MailError(ErrorKind.NOT_ALLOWED, "cannot rename a mailbox into itself")
    children = await conn.fetch("SELECT id, name FROM mailboxes WHERE account_id = $1 AND starts_with(name, $2)",
                                account_id, old + SEPARATOR)
    renames = [(box[0], new)] + [(r[0], new + r[1][len(old):]) for r in children]
    for _, target_name in renames[1:]:
        names.mailbox_name(target_name)  # the new names must be valid too (length, depth)
        if await _exists(conn, account_id, target_name):
            raise MailError(ErrorKind.EXISTS, f"mailbox {target_name!r} exists")
    await conn.execute("UPDATE mailboxes m SET name = r.name FROM unnest($1::bigint[], $2::text[]) AS r(id, name)"
                       " WHERE m.id = r.id", [r[0] for r in renames], [r[1] for r in renames])
    await _create_parents(conn, account_id, new)


async def _tx_set_subscribed(conn: asyncpg.Connection, ctx: Ctx, account: str, name: str,
                             subscribed: bool) -> None:
    box = await mailbox_row(conn, await _account_id(conn, account), name)
    await conn.execute("UPDATE mailboxes SET subscribed = $1 WHERE id = $2", subscribed, box[0])


async def _r_status(conn: asyncpg.Connection, account: str, name: str) -> MailboxStatus:
    box = mailbox_info(await mailbox_row(conn, await _account_id(conn, account), name))
    row = await conn.fetchrow(
        f"SELECT count(*), count(*) FILTER (WHERE sysflags & {SEEN} = 0),"
        f" count(*) FILTER (WHERE sysflags & {DELETED} <> 0), coalesce(sum(size), 0)::bigint,"
        f" coalesce(sum(size) FILTER (WHERE sysflags & {DELETED} <> 0), 0)::bigint"
        " FROM messages WHERE mailbox_id = $1", box.id)
    return MailboxStatus(box, row[0], row[1], row[2], row[3], deleted_size=row[4])
