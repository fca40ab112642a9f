"""The command table: name -> CommandSpec  [Dovecot src/imap/imap-commands.c].

One module per command family (see DESIGN.md); this table is the only
dispatch, never ``getattr``.  The flags follow Dovecot's meaning:

* ``uses_seqs``: the arguments contain message sequence numbers, so the
  command must not run while a command that may send EXPUNGE is running
  (``COMMAND_FLAG_USES_SEQS``);
* ``breaks_seqs``: the command may send EXPUNGE (or otherwise renumber),
  which UID commands may do (``COMMAND_FLAG_BREAKS_SEQS``);
* ``breaks_mailbox``: the command changes the selected mailbox
  (``COMMAND_FLAG_BREAKS_MAILBOX``);
* ``changes_state``: its response may change the connection state, version
  or encoding (LOGIN, SELECT, ENABLE, STARTTLS, ...): the core parses
  nothing after it until its tagged response has been sent (states.py, Rule 1).

Pipelined commands run one at a time today; the flags make running
non-conflicting ones concurrently a scheduler change later.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..states import ALL_STATES, AUTH, NOT_AUTH, SELECTED, State
from ..tokens import Args
from . import (
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
from .any_state import CapabilityRequest, IdRequest, LogoutRequest, NoopRequest
from .append import AppendMessage, AppendRequest
from .copy_move import CopyRequest, MoveRequest
from .enable import EnableRequest
from .expunge import CheckRequest, ExpungeRequest
from .fetch import FetchAttribute, FetchRequest, Section
from .idle import IdleRequest
from .list import ListRequest, LsubRequest, NamespaceRequest
from .login import AuthenticateRequest, LoginRequest, StartTlsRequest, UnauthenticateRequest
from .compress import CompressRequest
from .mailboxes import CreateRequest, DeleteRequest, RenameRequest, SubscribeRequest, UnsubscribeRequest
from .quota import GetQuotaRequest, GetQuotaRootRequest, SetQuotaRequest
from .search import (
    SearchAge,
    SearchAll,
    SearchAnd,
    SearchDate,
    SearchFlag,
    SearchHeader,
    SearchKey,
    SearchModSeq,
    SearchNot,
    SearchOr,
    SearchRequest,
    SearchSeq,
    SearchSize,
    SearchText,
)
from .select import CloseRequest, QResync, SelectRequest, UnselectRequest
from .sort import SortCriterion, SortRequest, ThreadRequest
from .status import StatusRequest
from .store import StoreRequest

__all__ = [
    "COMMANDS",
    "CommandSpec",
    "UID_COMMANDS",
    "AppendMessage", "AppendRequest", "AuthenticateRequest", "CapabilityRequest", "CheckRequest",
    "CloseRequest", "CompressRequest", "UnauthenticateRequest", "CopyRequest", "CreateRequest", "DeleteRequest", "EnableRequest",
    "ExpungeRequest", "FetchAttribute", "FetchRequest", "IdRequest", "IdleRequest", "ListRequest",
    "LoginRequest", "LogoutRequest", "LsubRequest", "MoveRequest", "NamespaceRequest",
    "NoopRequest", "QResync", "RenameRequest", "SearchAge", "SearchAll", "SearchAnd",
    "SearchDate", "SearchFlag", "SearchHeader", "SearchKey", "SearchModSeq", "SearchNot",
    "SearchOr", "SearchRequest", "SearchSeq", "SearchSize", "SearchText", "Section",
    "SelectRequest", "SortCriterion", "SortRequest", "ThreadRequest", "StartTlsRequest", "StatusRequest", "StoreRequest", "SubscribeRequest",
    "UnselectRequest", "UnsubscribeRequest",
    "GetQuotaRequest", "GetQuotaRootRequest", "SetQuotaRequest",
]


@dataclass(frozen=True)
class CommandSpec:
    """How to parse a command and when it is allowed."""

    name: str
    parse: Callable[[Args], Any]
    allowed_states: frozenset[State]
    uses_seqs: bool = False
    breaks_seqs: bool = False
    breaks_mailbox: bool = False
    changes_state: bool = False


def _spec(name: str, parse: Callable[[Args], Any], states: frozenset[State], **flags: bool) -> tuple[str, CommandSpec]:
    return name, CommandSpec(name, parse, states, **flags)


#: Every command the core knows, by upper-case name (``"UID FETCH"`` for the UID forms).
COMMANDS: dict[str, CommandSpec] = dict(
    [
        # any state (RFC 9051 section 6.1)
        _spec("CAPABILITY", any_state.parse_capability, ALL_STATES),
        _spec("NOOP", any_state.parse_noop, ALL_STATES, breaks_seqs=True),
        _spec("LOGOUT", any_state.parse_logout, ALL_STATES, breaks_mailbox=True, changes_state=True),
        _spec("ID", any_state.parse_id, ALL_STATES),
        # not authenticated (section 6.2)
        _spec("STARTTLS", login.parse_starttls, NOT_AUTH, changes_state=True),
        _spec("LOGIN", login.parse_login, NOT_AUTH, changes_state=True),
        _spec("AUTHENTICATE", login.parse_authenticate, NOT_AUTH, changes_state=True),
        # authenticated or selected, back to not authenticated (RFC 8437)
        _spec("UNAUTHENTICATE", login.parse_unauthenticate, AUTH, breaks_mailbox=True, changes_state=True),
        # RFC 4978: a barrier, as the bytes after it are compressed.  Not
        # before login, as in Dovecot 2.3 (its imap-login answers BAD).
        _spec("COMPRESS", compress.parse_compress, AUTH, changes_state=True),
        # authenticated (section 6.3)
        _spec("ENABLE", enable.parse_enable, AUTH, changes_state=True),
        _spec("SELECT", select.parse_select, AUTH, breaks_mailbox=True, changes_state=True),
        _spec("EXAMINE", select.parse_examine, AUTH, breaks_mailbox=True, changes_state=True),
        _spec("CREATE", mailboxes.parse_create, AUTH),
        _spec("DELETE", mailboxes.parse_delete, AUTH),
        _spec("RENAME", mailboxes.parse_rename, AUTH),
        _spec("SUBSCRIBE", mailboxes.parse_subscribe, AUTH),
        _spec("UNSUBSCRIBE", mailboxes.parse_unsubscribe, AUTH),
        _spec("LIST", list_.parse_list, AUTH),
        _spec("LSUB", list_.parse_lsub, AUTH),
        _spec("NAMESPACE", list_.parse_namespace, AUTH),
        _spec("STATUS", status.parse_status, AUTH),
        _spec("APPEND", append.parse_append, AUTH),
        _spec("IDLE", idle.parse_idle, AUTH, breaks_seqs=True),
        # RFC 9208 QUOTA
        _spec("GETQUOTA", quota.parse_getquota, AUTH),
        _spec("GETQUOTAROOT", quota.parse_getquotaroot, AUTH),
        _spec("SETQUOTA", quota.parse_setquota, AUTH),
        # selected (section 6.4)
        _spec("CHECK", expunge.parse_check, SELECTED),
        _spec("CLOSE", select.parse_close, SELECTED, breaks_seqs=True, breaks_mailbox=True, changes_state=True),
        _spec("UNSELECT", select.parse_unselect, SELECTED, breaks_mailbox=True, changes_state=True),
        _spec("EXPUNGE", expunge.parse_expunge, SELECTED, breaks_seqs=True),
        _spec("SEARCH", search.parse_search, SELECTED, uses_seqs=True),
        _spec("FETCH", fetch.parse_fetch, SELECTED, uses_seqs=True),
        _spec("STORE", store.parse_store, SELECTED, uses_seqs=True),
        _spec("COPY", copy_move.parse_copy, SELECTED, uses_seqs=True),
        _spec("MOVE", copy_move.parse_move, SELECTED, uses_seqs=True, breaks_seqs=True),
        _spec("UID EXPUNGE", expunge.parse_uid_expunge, SELECTED, breaks_seqs=True),
        _spec("UID SEARCH", search.parse_uid_search, SELECTED, breaks_seqs=True),
        # RFC 5256: EXPUNGE may be sent during UID SORT / UID THREAD, not during SORT / THREAD
        _spec("SORT", sort.parse_sort, SELECTED, uses_seqs=True),
        _spec("THREAD", sort.parse_thread, SELECTED, uses_seqs=True),
        _spec("UID SORT", sort.parse_uid_sort, SELECTED, breaks_seqs=True),
        _spec("UID THREAD", sort.parse_uid_thread, SELECTED, breaks_seqs=True),
        _spec("UID FETCH", fetch.parse_uid_fetch, SELECTED, breaks_seqs=True),
        _spec("UID STORE", store.parse_uid_store, SELECTED, breaks_seqs=True),
        _spec("UID COPY", copy_move.parse_uid_copy, SELECTED, breaks_seqs=True),
        _spec("UID MOVE", copy_move.parse_uid_move, SELECTED, breaks_seqs=True),
    ]
)

#: Commands that may follow ``UID``.
UID_COMMANDS = frozenset(name.split()[1] for name in COMMANDS if name.startswith("UID "))
