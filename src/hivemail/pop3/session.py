"""The asyncio POP3 session: moves bytes between the socket and the pure core.

Everything protocol-shaped is in ``pop3_proto``; every command is answered
in ``handlers.py``.  This module keeps what lives for the whole session:

* :class:`Pop3Service`: what all sessions share (store, authenticator,
  config, TLS context) and the maildrop locks, shared by worker processes
  through :class:`~hivemail.shared_state.SharedState`.  RFC 1939 section
  8 lets a server lock the maildrop; we lock it against a second *POP3*
  session only (``-ERR [IN-USE]``, RFC 2449 section 8.1.1).  IMAP is never
  blocked: it works on the store directly, and the POP3 session copes with
  what IMAP does through its fixed maildrop and its pinned blobs.
* :class:`Maildrop`: the INBOX as it stood at login (RFC 1939 section 4: the
  maildrop is fixed for the session, message numbers and sizes included),
  the DELE marks, the pending \\Seen marks, and :meth:`Maildrop.commit`, the
  UPDATE state (section 6).
* :class:`Pop3Session`: the read -> events -> handler -> write loop, STLS,
  the idle timer, and clean-up whatever way the connection ends.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import ssl
from dataclasses import dataclass, field

from hivemail.auth.directory import Authenticator, plaintext_allowed
from hivemail.auth.throttle import LoginRefused
from hivemail.config import POP3_DELE_ACTIONS, Config
from hivemail.mailstore import AccountInfo, ErrorKind, MailError, MailStore
from hivemail.mailstore.types import FlagMode, MailboxInfo
from hivemail.net.listeners import Connection
from hivemail.pop3.uidl import compile_format
from hivemail.shared_state import SharedState
from hivemail.pop3_proto import (
    SYS_TEMP,
    AuthAborted,
    AuthResponse,
    CommandReceived,
    Err,
    Limits,
    Ok,
    Pop3ServerConnection,
    State,
)

log = logging.getLogger("hivemail.pop3")


#: Output is written once this much is queued, and RETR reads files in
#: chunks of this size: large writes for bulk transfer, bounded memory.
WRITE_CHUNK = 1 << 18
#: Seconds RETR's \Seen marks gather before they are stored in one commit.
SEEN_BATCH_DELAY = 0.05
#: Entries of ``Pop3Service.dot_free`` kept before it starts afresh.
DOT_FREE_CACHE = 1 << 16


class Pop3Service:
    """Shared by every POP3 session of one server process (passed explicitly, no globals)."""

    def __init__(self, store: MailStore, auth: Authenticator, config: Config,
                 tls_context: ssl.SSLContext | None, shared: SharedState) -> None:
        self.store = store
        self.auth = auth
        self.config = config
        self.tls_context = tls_context
        self.uidl = compile_format(config.pop3.uidl_format)
        if config.pop3.dele not in POP3_DELE_ACTIONS:
            raise ValueError(f"pop3.dele must be one of {', '.join(POP3_DELE_ACTIONS)}")
        self.limits = Limits(max_line_length=config.pop3.max_command_line,
                             max_bad_commands=config.pop3.max_bad_commands)
        self.shared = shared
        self._locks: dict[str, int] = {}
        # blob id -> "no line starts with '.'" (RETR may sendfile it).  Blob
        # ids are content addresses, so an answer never goes stale.
        self._dot_free: dict[str, bool] = {}

    def for_connection(self, conn: Connection, on_login) -> Pop3Service:
        """This service as one connection's handlers see it: the same store,
        locks and caches (a shallow copy shares them), with the
        authenticator bound to the connection (auth/throttle.py)."""
        view = copy.copy(self)
        view.auth = self.auth.for_connection(conn.peer_ip, on_login)  # type: ignore[assignment]
        return view

    def dot_free(self, blob_id: str) -> bool | None:
        return self._dot_free.get(blob_id)

    def note_dot_free(self, blob_id: str, dot_free: bool) -> None:
        if len(self._dot_free) >= DOT_FREE_CACHE:
            self._dot_free.clear()
        self._dot_free[blob_id] = dot_free

    async def lock(self, account: str) -> bool:
        """Take the account's maildrop lock; False if another POP3 session,
        in this or another worker process (SharedState's flock) or on
        another node sharing the store (``store.lock_maildrop``), holds it."""
        if account in self._locks:
            return False
        fd = self.shared.try_lock(account)
        if fd is None:
            return False
        self._locks[account] = fd
        try:
            if await self.store.lock_maildrop(account):
                return True
        except BaseException:
            self._release_local(account)
            raise
        self._release_local(account)
        return False

    async def unlock(self, account: str) -> None:
        if account in self._locks:
            try:
                await self.store.unlock_maildrop(account)
            finally:
                self._release_local(account)

    def _release_local(self, account: str) -> None:
        fd = self._locks.pop(account, None)
        if fd is not None:
            self.shared.unlock(fd)

    def login_too_soon(self, account: str) -> bool:
        """LOGIN-DELAY (RFC 2449 section 8.1.2): the last login was too recent."""
        delay = self.config.pop3.login_delay
        if delay <= 0:
            return False
        since = self.shared.seconds_since_login(account)
        return since is not None and since < delay

    def logged_in(self, account: str) -> None:
        if self.config.pop3.login_delay > 0:
            self.shared.note_login(account)


@dataclass(slots=True)
class Message:
    uid: int
    size: int
    blob_id: str
    uidl: str
    seen: bool              # \Seen at login: RETR need not store it again
    deleted: bool = False


@dataclass
class Maildrop:
    """The INBOX at login.  Message ``n`` is ``messages[n - 1]`` for the whole session."""

    account: AccountInfo
    mailbox: MailboxInfo
    messages: list[Message]
    pin_id: int | None
    count: int = 0          # not deleted
    octets: int = 0         # not deleted
    seen: set[int] = field(default_factory=set)   # UIDs retrieved, \Seen not yet stored
    seen_task: asyncio.Task | None = None

    @classmethod
    async def open(cls, service: Pop3Service, account: AccountInfo) -> Maildrop:
        """Snapshot the INBOX and pin its blobs.  A blob already collected when
        the pin is taken belongs to a message expunged since the snapshot:
        take the snapshot again (bounded; in practice once)."""
        store = service.store
        for _ in range(3):
            snap = await store.snapshot(account.name, "INBOX")
            pin_id, missing = await store.pin_blobs({m.blob_id for m in snap.messages})
            if not missing:
                break
            await store.unpin_blobs(pin_id)
        else:
            raise MailError(ErrorKind.TEMP, "INBOX keeps changing under the login")
        uidvalidity = snap.mailbox.uidvalidity
        fmt = service.uidl
        messages = [Message(m.uid, m.size, m.blob_id, m.explicit_uidl or fmt(uidvalidity, m.uid),
                            "\\Seen" in m.flags)
                    for m in snap.messages]
        return cls(account, snap.mailbox, messages, pin_id, len(messages), sum(m.size for m in messages))

    def get(self, n: int) -> Message | None:
        """Message ``n`` if it exists and is not marked deleted."""
        if n > len(self.messages):
            return None
        msg = self.messages[n - 1]
        return None if msg.deleted else msg

    def delete(self, msg: Message) -> None:
        msg.deleted = True
        self.count -= 1
        self.octets -= msg.size

    def reset(self) -> None:
        for msg in self.messages:
            msg.deleted = False
        self.count = len(self.messages)
        self.octets = sum(m.size for m in self.messages)

    def mark_seen(self, store: MailStore, msg: Message) -> None:
        """RETR sets \\Seen, as IMAP will see it.  Stored in the background and in
        batches (each store_flags is a durable commit; a RETR of 1,000 messages
        must not wait for 1,000 of them): whatever accumulates while one
        batch commits goes in the next, after a short pause to let a batch
        form.  A message already \\Seen at login is skipped (if IMAP cleared
        \\Seen since, this RETR does not set it again: the price of not
        writing on every download of a kept mailbox)."""
        if msg.seen:
            return
        msg.seen = True
        self.seen.add(msg.uid)
        if self.seen_task is None or self.seen_task.done():
            self.seen_task = asyncio.create_task(self._store_seen(store))

    async def _store_seen(self, store: MailStore) -> None:
        while self.seen:
            await asyncio.sleep(SEEN_BATCH_DELAY)
            uids = sorted(self.seen)
            self.seen.clear()
            try:
                await store.store_flags(self.mailbox.id, uids, FlagMode.ADD, ["\\Seen"])
            except MailError as exc:
                log.warning("pop3 %s: cannot store \\Seen: %s", self.account.name, exc.text)

    async def flush_seen(self) -> None:
        if self.seen_task is not None:
            await self.seen_task

    async def commit(self, store: MailStore, action: str) -> int:
        """The UPDATE state (RFC 1939 section 6): apply the DELE marks.  Returns
        how many messages were marked.  UIDs IMAP expunged meanwhile are
        simply skipped by the store.  Raises MailError."""
        await self.flush_seen()
        uids = [m.uid for m in self.messages if m.deleted]
        if not uids:
            return 0
        box = self.mailbox.id
        match action:
            case "trash":
                await store.move(box, uids, self.account.name, await _trash_name(store, self.account.name))
            case "keep-read":
                await store.store_flags(box, uids, FlagMode.ADD, ["\\Seen"])
            case _:
                await store.store_flags(box, uids, FlagMode.ADD, ["\\Deleted"])
                await store.expunge(box, uids)
        return len(uids)

    async def close(self, store: MailStore) -> None:
        """Store pending \\Seen marks and release the pin (every way out)."""
        try:
            await self.flush_seen()
        finally:
            if self.pin_id is not None:
                pin_id, self.pin_id = self.pin_id, None
                await store.unpin_blobs(pin_id)


async def _trash_name(store: MailStore, account: str) -> str:
    """The \\Trash special-use mailbox (RFC 6154), or "Trash", made if missing."""
    boxes = await store.list_mailboxes(account)
    for box in boxes:
        if box.special_use == "\\Trash":
            return box.name
    if not any(b.name == "Trash" for b in boxes):
        await store.create_mailbox(account, "Trash", "\\Trash")
    return "Trash"


@dataclass
class NotAuthenticated:
    """AUTHORIZATION state: the USER name given, a SASL exchange in progress."""

    user: str | None = None
    sasl: object | None = None       # auth.sasl exchange
    sasl_success: str | None = None  # SCRAM: server-final sent, waiting for the empty response
    failures: int = 0


@dataclass
class Transaction:
    maildrop: Maildrop


class Pop3Session:
    """One client connection.  ``run()`` returns when the connection is over."""

    def __init__(self, service: Pop3Service, conn: Connection) -> None:
        self.service = service.for_connection(conn, self._logged_in_as)
        self.conn = conn
        self.store = service.store
        self.config = service.config
        self.proto = Pop3ServerConnection(service.limits, tls=conn.tls)
        self.state: NotAuthenticated | Transaction = NotAuthenticated()
        self.close_now = False      # a handler decided to end the connection
        self.start_tls = False      # +OK to STLS sent: handshake after the flush
        self.out = bytearray()      # responses not yet written (pipelined commands)

    def _logged_in_as(self, account: str) -> None:
        if self.conn.log is not None:
            self.conn.log.account = account

    def login_refused(self) -> Err:
        """A limit refused a login without checking it: "try later" ([SYS/TEMP],
        RFC 3206: temporary, so the client does not ask for a new password)."""
        state = self.state
        if isinstance(state, NotAuthenticated):
            state.sasl = state.sasl_success = None
            state.failures += 1
            if state.failures >= self.config.auth.max_failures_per_connection:
                self.close_now = True
        return Err("Too many failed logins, try again later", SYS_TEMP)

    @property
    def plaintext_allowed(self) -> bool:
        """USER/PASS and SASL PLAIN (the rule IMAP uses too)."""
        return plaintext_allowed(self.config.auth, tls=self.proto.tls_active, loopback=self.conn.is_loopback)

    async def run(self) -> None:
        from hivemail.pop3 import handlers

        try:
            self.proto.send(Ok(f"{self.config.hostname} hivemail POP3 ready"))
            while True:
                for event in self.proto.events():
                    try:
                        match event:
                            case CommandReceived(command=command):
                                response = await handlers.handle(self, command)
                            case AuthResponse(data=data):
                                response = await handlers.auth_response(self, data)
                            case _:
                                response = None
                    except LoginRefused:
                        response = self.login_refused()
                    match event:
                        case AuthAborted():
                            if isinstance(self.state, NotAuthenticated):
                                self.state.sasl = self.state.sasl_success = None
                        case _:  # CommandRejected, ConnectionClosed: the core answered
                            pass
                    if response is not None:
                        self.proto.send(response)
                    if self.close_now:
                        break
                    # Answers to pipelined commands go out in one write, up to
                    # a bound (RFC 2449 section 6.6 lets us; fewer syscalls).
                    self.out += self.proto.data_to_send()
                    if len(self.out) >= WRITE_CHUNK and not await self.flush():
                        return
                if not await self.flush() or self.proto.closed or self.close_now:
                    return
                if self.start_tls and not await self._start_tls():
                    return
                data = await self.conn.read(timeout=self.config.pop3.idle_timeout)
                if data is None and self.conn.command_timed_out:
                    log.info("pop3: %s took too long over one command, closing", self.conn.peer_ip)
                    await self.conn.write(b"-ERR [SYS/TEMP] Command took too long to arrive\r\n")
                    return
                if data is None:
                    # RFC 1939 section 3: on the autologout timer "the session does
                    # NOT enter the UPDATE state--the server should close the TCP
                    # connection without removing any messages or sending any
                    # response to the client".  We do exactly that (Dovecot sends
                    # "-ERR Disconnected for inactivity" instead).
                    log.info("pop3: %s idle too long, closing", self.conn.peer_ip)
                    return
                if not data and self.conn.closing.is_set():
                    await self.conn.write(b"-ERR [SYS/TEMP] Server shutting down\r\n")
                    return
                self.proto.receive_data(data)
        finally:
            await self._end()

    async def flush(self) -> bool:
        """Write what the core has queued; False if the client has gone."""
        if self.out:
            self.out += self.proto.data_to_send()
            data = bytes(self.out)
            self.out.clear()
        else:
            data = self.proto.data_to_send()
        return await self.conn.write(data)

    async def _start_tls(self) -> bool:
        self.start_tls = False
        ctx = self.service.tls_context
        assert ctx is not None
        try:
            await self.conn.start_tls(ctx)
        except (OSError, ssl.SSLError, ConnectionError) as exc:
            log.info("pop3: STLS handshake with %s failed: %s", self.conn.peer_ip, exc)
            return False
        self.proto.start_tls_done()
        self.state = NotAuthenticated(failures=getattr(self.state, "failures", 0))
        return True

    async def _end(self) -> None:
        if isinstance(self.state, Transaction):
            drop = self.state.maildrop
            try:
                await drop.close(self.store)
            except MailError as exc:
                log.warning("pop3 %s: closing the maildrop: %s", drop.account.name, exc.text)
            finally:
                await self.service.unlock(drop.account.name)

    async def quit(self) -> Ok | Err:
        """QUIT: in TRANSACTION the core is in UPDATE now; commit the DELE marks."""
        if not isinstance(self.state, Transaction) or self.proto.state is not State.UPDATE:
            return Ok("Bye")
        drop = self.state.maildrop
        action = drop.account.settings.get("pop3_dele", self.config.pop3.dele)
        if action not in POP3_DELE_ACTIONS:
            log.warning("pop3 %s: unknown pop3_dele setting %r, using %r",
                        drop.account.name, action, self.config.pop3.dele)
            action = self.config.pop3.dele
        try:
            n = await drop.commit(self.store, action)
        except MailError as exc:
            log.warning("pop3 %s: QUIT could not apply DELE: %s", drop.account.name, exc.text)
            reply: Ok | Err = Err("Some messages could not be deleted", SYS_TEMP)
        else:
            reply = Ok(f"Logging out ({n} deleted)" if n else "Logging out")
        # The maildrop is released before the reply goes out (RFC 1939
        # section 6: UPDATE ends the session's hold on it), so a client that
        # logs in again the moment it reads +OK finds it free, not [IN-USE].
        await self._end()
        self.state = NotAuthenticated()
        return reply


def handler(service: Pop3Service):
    async def serve(conn: Connection) -> None:
        await Pop3Session(service, conn).run()

    return serve
