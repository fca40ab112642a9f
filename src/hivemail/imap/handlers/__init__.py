"""IMAP command handlers, one module per command family (the same family
names as ``imap_proto/commands/``), dispatched through one table."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from hivemail.imap.handlers import (
    any_state,
    append,
    compress,
    copy_move,
    enable,
    expunge,
    fetch,
    idle,
    list as list_,
    login,
    mailboxes,
    quota,
    search,
    select,
    sort,
    status,
    store,
)
from hivemail.imap_proto import COMMANDS, Condition, Tagged

Handler = Callable[[Any, str, Any], Awaitable[Tagged | None]]

HANDLERS: dict[str, Handler] = {
    "CAPABILITY": any_state.capability,
    "NOOP": any_state.noop,
    "LOGOUT": any_state.logout,
    "ID": any_state.id_,
    "STARTTLS": login.starttls,
    "LOGIN": login.login,
    "AUTHENTICATE": login.authenticate,
    "UNAUTHENTICATE": login.unauthenticate,
    "COMPRESS": compress.compress,
    "ENABLE": enable.enable,
    "SELECT": select.select,
    "EXAMINE": select.select,
    "CREATE": mailboxes.create,
    "DELETE": mailboxes.delete,
    "RENAME": mailboxes.rename,
    "SUBSCRIBE": mailboxes.subscribe,
    "UNSUBSCRIBE": mailboxes.unsubscribe,
    "LIST": list_.list_,
    "LSUB": list_.lsub,
    "NAMESPACE": list_.namespace,
    "STATUS": status.status,
    "APPEND": append.append,
    "IDLE": idle.idle,
    "GETQUOTA": quota.getquota,
    "GETQUOTAROOT": quota.getquotaroot,
    "SETQUOTA": quota.setquota,
    "CHECK": expunge.check,
    "CLOSE": select.close,
    "UNSELECT": select.unselect,
    "EXPUNGE": expunge.expunge,
    "UID EXPUNGE": expunge.expunge,
    "SEARCH": search.search,
    "UID SEARCH": search.search,
    "SORT": sort.sort,
    "UID SORT": sort.sort,
    "THREAD": sort.thread,
    "UID THREAD": sort.thread,
    "FETCH": fetch.fetch,
    "UID FETCH": fetch.fetch,
    "STORE": store.store,
    "UID STORE": store.store,
    "COPY": copy_move.copy,
    "UID COPY": copy_move.copy,
    "MOVE": copy_move.move,
    "UID MOVE": copy_move.move,
}

assert set(HANDLERS) == set(COMMANDS), set(COMMANDS) ^ set(HANDLERS)

# Commands during which EXPUNGE must not be sent (RFC 9051 7.5.1: FETCH,
# STORE, SEARCH, and COPY as Dovecot adds, all in their non-UID forms;
# RFC 5256 section 3 adds SORT and THREAD).
_NO_EXPUNGE = frozenset({"FETCH", "STORE", "SEARCH", "COPY", "SORT", "THREAD"})


async def after_command(session, command: str, result: Tagged) -> None:
    """Before the tagged response: the untagged updates the client is owed."""
    if command == "LOGOUT":
        session.send(Condition.bye("Logging out"))
        return
    await session.sync(allow_expunge=command not in _NO_EXPUNGE)
