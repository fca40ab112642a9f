"""The asyncio IMAP session: drives ``imap_proto`` and dispatches commands.

The protocol core parses and formats; handlers (``imap/handlers/``, one
module per command family) decide. This module owns what is per
connection: the session state (a tagged union), the selected-mailbox view
and when its updates are sent, IDLE, STARTTLS, timers and the socket.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from dataclasses import dataclass, replace

from hivemail.auth.directory import Authenticator, plaintext_allowed
from hivemail.auth.throttle import LoginRefused
from hivemail.config import Config
from hivemail.imap.mailbox_cache import MailboxCache
from hivemail.imap.recent import RecentTracker
from hivemail.imap.selected import Exists as ViewExists
from hivemail.imap.selected import Expunge as ViewExpunge
from hivemail.imap.selected import FlagsChanged, SelectedView, Update
from hivemail.imap_proto import (
    AuthContinuation,
    BadCommand,
    CommandReceived,
    Condition,
    ConnectionClosed,
    Exists,
    Expunge,
    Fetch,
    FileSegment,
    IdleDone,
    ImapLimits,
    ImapServerConnection,
    LiteralRequested,
    Recent,
    Response,
    ResponseCode,
    SeqSet,
    Tagged,
    Vanished,
    Version,
)
from hivemail.imap_proto import State as CoreState
from hivemail.mailstore import AccountInfo, MailboxInfo, MailError, MailStore
from hivemail.net.listeners import Connection

log = logging.getLogger("hivemail.imap")

# File segments up to this size are read on the loop (one page-cache read);
# bigger ones in a thread, piece by piece, so a 50 MB literal never stalls
# other sessions nor sits in memory whole.
_INLINE_READ = 256 * 1024
_PIECE = 1024 * 1024


# -- session state: a tagged union (STYLE.md rule 6) -------------------------
@dataclass
class NotAuthenticated:
    failures: int = 0


@dataclass
class Authenticated:
    account: AccountInfo


@dataclass
class Selected:
    account: AccountInfo
    mailbox: MailboxInfo
    view: SelectedView


State = NotAuthenticated | Authenticated | Selected


@dataclass
class Services:
    """What every session of a server shares (passed explicitly, no globals)."""

    store: MailStore
    config: Config
    auth: Authenticator
    tls: ssl.SSLContext | None
    recent: RecentTracker
    mailboxes: MailboxCache


class ImapSession:
    def __init__(self, conn: Connection, services: Services) -> None:
        self.conn = conn
        # The login handlers see an authenticator bound to this connection:
        # failures count per address and account (auth/throttle.py), and
        # the account goes into this session's log lines.
        self.services = replace(services, auth=services.auth.for_connection(conn.peer_ip, self._logged_in_as))
        self.store = services.store
        self.config = services.config
        cfg = services.config.imap
        self.proto = ImapServerConnection(
            limits=ImapLimits(
                max_line=cfg.max_line,
                max_literal=cfg.max_literal,
                max_append=services.config.limits.max_message_size,
                max_command=cfg.max_command,
                max_nesting=cfg.max_nesting,
                max_pipelined=cfg.max_pipelined,
            ),
            literal_plus=True,
        )
        self.state: State = NotAuthenticated()
        self.idle_tag: str | None = None
        # RFC 5182: the UIDs a SEARCH RETURN (SAVE) left for "$".
        self.saved_uids: list[int] = []
        self.enabled: set[str] = set()
        # Per-session cache of parsed analyses (FETCH ENVELOPE/BODYSTRUCTURE).
        self.analysis_cache: dict[tuple[int, int], object] = {}
        self.client_id: dict[str, str | None] | None = None
        # (tag, exchange, OK to send after server-final) during AUTHENTICATE.
        self.sasl: tuple | None = None
        # When the last command finished (its writes are committed by then).
        self.last_command_end = 0.0

    def _logged_in_as(self, account: str) -> None:
        if self.conn.log is not None:
            self.conn.log.account = account

    def reset_login(self) -> None:
        """UNAUTHENTICATE (RFC 8437 section 3): forget everything the login
        brought -- the selected mailbox and its view (with the \\Recent
        claims it holds: claims are per view, and the shared record of
        what was handed out stays, so nothing becomes recent twice), saved
        search results (section 4.1, SEARCHRES), what ENABLE switched on
        (CONDSTORE and QRESYNC with it), cached analyses, a SASL exchange.
        The protocol core resets its own state, version and UTF-8 mode when
        the OK is sent.  TLS and the ID the client gave stay (section 3).
        Fields added for a login belong here too."""
        self.state = NotAuthenticated()
        self.idle_tag = None
        self.saved_uids = []
        self.enabled = set()
        self.analysis_cache = {}
        self.sasl = None
        if self.conn.log is not None:
            self.conn.log.account = None

    @property
    def inflate_limit(self) -> int:
        """Inflated bytes one command may bring under COMPRESS: twice the
        biggest command the core accepts (an APPEND of the largest message
        plus the rest of the command), the rule the core applies to a
        ``{n+}`` it will not read (imap_proto/connection.py).  More is a
        decompression bomb; the session ends (``Connection.max_inflate``)."""
        return 2 * (self.config.limits.max_message_size + self.config.imap.max_command)

    def login_refused(self, tag: str, refused: LoginRefused) -> Tagged:
        """A limit refused a login without checking it: "try later" (RFC
        5530 UNAVAILABLE: temporary, unlike AUTHENTICATIONFAILED, so a
        client does not ask its user for a new password)."""
        self.sasl = None
        result = Tagged.no(tag, "Too many failed logins, try again later", "UNAVAILABLE")
        if isinstance(self.state, NotAuthenticated):
            self.state.failures += 1
            if self.state.failures >= self.config.auth.max_failures_per_connection:
                self.send(result)
                self.send(Condition.bye("Too many authentication failures"))
                return None  # type: ignore[return-value]
        return result

    # -- helpers for handlers ------------------------------------------------
    @property
    def tls_active(self) -> bool:
        return self.conn.tls

    @property
    def plaintext_allowed(self) -> bool:
        return plaintext_allowed(self.config.auth, tls=self.conn.tls, loopback=self.conn.is_loopback)

    @property
    def rev2(self) -> bool:
        return self.proto.version is Version.REV2

    def send(self, response: Response) -> None:
        self.proto.send(response)

    async def flush(self) -> bool:
        """Write everything queued, streaming file segments; False if the
        client has gone.  All of it is one burst: under COMPRESS only its
        end is flushed (RFC 4978 section 4)."""
        chunks = self.proto.chunks_to_send()
        last = len(chunks) - 1
        for i, chunk in enumerate(chunks):
            if isinstance(chunk, FileSegment):
                if not await self._write_segment(chunk, more=i < last):
                    return False
            elif not await self.conn.write(chunk, more=i < last):
                return False
        return True

    async def _write_segment(self, seg: FileSegment, more: bool = False) -> bool:
        # Never sendfile here: under TLS or COMPRESS the bytes must pass
        # through us anyway, and pieces keep memory flat either way.
        if seg.length <= _INLINE_READ:
            return await self.conn.write(seg.read(), more=more)
        done = 0
        while done < seg.length:
            n = min(_PIECE, seg.length - done)
            piece = await asyncio.to_thread(_read_range, seg.path, seg.start + done, n)
            if len(piece) != n:
                # The file shrank or vanished under us: the literal length is
                # already on the wire, so the connection cannot continue.
                log.error("stored message %s is shorter than recorded", seg.path)
                return False
            done += n
            if not await self.conn.write(piece, more=more or done < seg.length):
                return False
        return True

    # -- selected-mailbox updates ---------------------------------------------
    @property
    def condstore(self) -> bool:
        """RFC 7162 3.1: a CONDSTORE enabling command was issued; every
        FETCH response about flags then carries MODSEQ."""
        return "CONDSTORE" in self.enabled

    @property
    def qresync(self) -> bool:
        """RFC 7162 3.2.3: ENABLE QRESYNC was answered; expunges are then
        reported as VANISHED, never EXPUNGE."""
        return "QRESYNC" in self.enabled

    def enable_condstore(self) -> None:
        """The command being run is a CONDSTORE enabling command (RFC 7162
        3.1). The first one with a mailbox selected reports its
        HIGHESTMODSEQ, before the command's own responses."""
        if self.condstore:
            return
        self.enabled.add("CONDSTORE")
        if isinstance(self.state, Selected):
            self.send(Condition.ok("Highest", ResponseCode.highestmodseq(self.state.view.modseq)))

    async def sync(self, allow_expunge: bool = True, not_before: float | None = None) -> None:
        """Queue the untagged updates owed to the client (RFC 9051 7.5.1
        says when EXPUNGE may be sent; the caller knows). ``not_before``:
        a change-log read started before this moment cannot serve (default:
        the end of the last command, whose writes it must see)."""
        if not isinstance(self.state, Selected):
            return
        view = self.state.view
        try:
            changes = await self.services.mailboxes.changes_since(
                view.mailbox_id, view.modseq,
                not_before=self.last_command_end if not_before is None else not_before,
            )
        except MailError as e:
            if e.kind.name == "NOT_FOUND":
                # The mailbox was deleted or renamed away by another session.
                self.send(Condition.bye("Selected mailbox was removed"))
                return
            raise
        if not (changes.expunged or changes.appended or changes.flag_updates) and changes.highestmodseq <= view.modseq:
            if allow_expunge and view.pending_expunge:
                self.send_updates(view.flush_expunges())
            return
        self.send_updates(view.apply(changes, allow_expunge))

    def send_updates(self, updates: list[Update]) -> None:
        view = self.state.view  # type: ignore[union-attr]
        vanished: list[int] = []
        for u in updates:
            match u:
                case ViewExpunge(seq=seq, uid=uid):
                    if self.qresync:
                        vanished.append(uid)  # one VANISHED for the run (RFC 7162 3.2.10.2)
                    else:
                        self.send(Expunge(seq))
                case ViewExists(count=count):
                    self._send_vanished(vanished)
                    self.send(Exists(count))
                    if not self.rev2:
                        new_recent = self.services.recent.claim(view)
                        if new_recent:
                            self.send(Recent(len(view.recent)))
                case FlagsChanged(seq=seq, uid=uid, flags=flags, modseq=modseq):
                    self._send_vanished(vanished)
                    items: list = [("FLAGS", self.flags_for(uid, flags))]
                    # RFC 9051 7.5.1 / 7162 3.2.4: UID helps clients that cache by UID.
                    items.append(("UID", uid))
                    if self.condstore:
                        items.append(("MODSEQ", (modseq,)))
                    self.send(Fetch(seq, tuple(items)))
        self._send_vanished(vanished)

    def send_expunges(self, expunges: list[ViewExpunge]) -> None:
        """This session's own expunges, numbered out by the view."""
        self.send_updates(list(expunges))

    def _send_vanished(self, uids: list[int]) -> None:
        if uids:
            self.send(Vanished(SeqSet.compact(sorted(uids))))
            uids.clear()

    def flags_for(self, uid: int, flags: frozenset[str]) -> tuple[str, ...]:
        out = sorted(flags, key=_flag_order)
        if not self.rev2 and isinstance(self.state, Selected) and uid in self.state.view.recent:
            out.append("\\Recent")
        return tuple(out)

    # -- the loop ---------------------------------------------------------------
    async def run(self) -> None:
        from hivemail.imap.handlers.any_state import capabilities

        self.send(Condition.ok("hivemail ready.", ResponseCode.capability(capabilities(self))))
        if not await self.flush():
            return
        while True:
            for event in self.proto.events():
                await self.dispatch(event)
                if not await self.flush():
                    return
            # The core may have queued output with no event: "+ Ready" for a
            # synchronizing literal it accepts by itself.
            if not await self.flush():
                return
            if self.proto.closed or self.proto.state is CoreState.LOGOUT:
                return
            data = await self.read()
            if data is None:
                return
            self.proto.receive_data(data)

    async def read(self) -> bytes | None:
        """The next chunk for the core; None when the session must end."""
        timeout = (
            self.config.imap.login_timeout
            if isinstance(self.state, NotAuthenticated)
            else self.config.imap.idle_timeout
        )
        if self.idle_tag is not None and isinstance(self.state, Selected):
            data = await self.read_while_idle(timeout)
        else:
            data = await self.conn.read(timeout=timeout)
        if self.conn.closing.is_set():
            self.send(Condition.bye("Server shutting down"))
            await self.flush()
            return None
        if self.conn.input_error is not None:
            # Bad DEFLATE data or a decompression bomb: the streams are out
            # of step or not worth following; say why, then close.
            code = "LIMIT" if self.conn.input_over_limit else None
            self.send(Condition.bye(self.conn.input_error, code))
            await self.flush()
            return None
        if data is None:
            if self.conn.command_timed_out:
                self.send(Condition.bye("Command took too long to arrive"))
            else:
                self.send(Condition.bye("Autologout; idle for too long"))
            await self.flush()
            return None
        return data

    async def read_while_idle(self, timeout: float) -> bytes | None:
        """IDLE (RFC 2177): wait for the client's DONE while pushing every
        change of the selected mailbox as it happens."""
        assert isinstance(self.state, Selected)
        reading = asyncio.ensure_future(self.conn.read(timeout=timeout))
        try:
            while not reading.done():
                view = self.state.view
                change = asyncio.ensure_future(self.store.wait_for_change(view.mailbox_id, view.modseq))
                done, _ = await asyncio.wait({reading, change}, return_when=asyncio.FIRST_COMPLETED)
                if change in done:
                    await self.sync(allow_expunge=True)
                    if not await self.flush():
                        reading.cancel()
                        return b""
                else:
                    change.cancel()
            return reading.result()
        finally:
            if not reading.done():
                reading.cancel()

    async def dispatch(self, event: object) -> None:
        from hivemail.imap.handlers import HANDLERS, after_command

        match event:
            case CommandReceived(tag=tag, request=request, command=command):
                handler = HANDLERS[command]
                try:
                    result = await handler(self, tag, request)
                except LoginRefused as e:
                    result = self.login_refused(tag, e)
                except MailError as e:
                    from hivemail.imap.errors import tagged_for

                    result = tagged_for(tag, e)
                except Exception:
                    log.exception("IMAP %s failed", command)
                    result = Tagged.no(tag, "Internal error, the failure was logged", "SERVERBUG")
                if result is None:  # IDLE and AUTHENTICATE answer later
                    return
                # The updates owed now must include what this command wrote.
                self.last_command_end = time.monotonic()
                await after_command(self, command, result)
                self.send(result)
            case LiteralRequested():
                from hivemail.imap.handlers.append import literal_requested

                await literal_requested(self, event)
            case BadCommand():
                self.send(event.response())
            case IdleDone(tag=tag):
                self.idle_tag = None
                await self.sync(allow_expunge=True)
                self.send(Tagged.ok(tag or "*", "IDLE terminated"))
            case AuthContinuation():
                from hivemail.imap.handlers.login import auth_continuation

                tag = self.sasl[0] if self.sasl else "*"
                try:
                    await auth_continuation(self, event)
                except LoginRefused as e:
                    result = self.login_refused(tag, e)
                    if result is not None:
                        self.send(result)
            case ConnectionClosed():
                return


def _read_range(path: str, start: int, length: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(start)
        return f.read(length)


_SYSTEM_ORDER = {"\\Answered": 0, "\\Flagged": 1, "\\Deleted": 2, "\\Seen": 3, "\\Draft": 4}


def _flag_order(flag: str) -> tuple[int, str]:
    # System flags first in Dovecot's order, then keywords as stored.
    return (_SYSTEM_ORDER.get(flag, 5), flag)


def handler(services: Services):
    async def serve(conn: Connection) -> None:
        await ImapSession(conn, services).run()

    return serve
