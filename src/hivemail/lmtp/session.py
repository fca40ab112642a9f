"""The asyncio session for LMTP (RFC 2033) and inbound SMTP (RFC 5321).

All protocol rules live in ``smtp_proto``; this layer only decides what the
core asks it (is this recipient ours? was the message stored?) and moves
bytes. LMTP answers after DATA with one reply per accepted recipient, in
order (RFC 2033 section 4.2), so one recipient failing never fails another.

aiosmtpd was considered and not used: its LMTP mode answers DATA once for
all recipients (its issue #517), and it is not sans-I/O.
"""

from __future__ import annotations

import logging
from concurrent.futures import Executor
from dataclasses import dataclass, field

from hivemail.config import Config
from hivemail.lmtp import delivery
from hivemail.lmtp.filtering import SieveFilter
from hivemail.mailstore import AppendResult, ErrorKind, MailError, MailStore, Recipient
from hivemail.net.listeners import Connection
from hivemail.smtp_proto import (
    Closed,
    Hello,
    MailFrom,
    MessageReceived,
    RcptTo,
    Reply,
    SmtpLimits,
    SmtpServerConnection,
)

log = logging.getLogger("hivemail.lmtp")


@dataclass
class Transaction:
    """Recipients accepted so far, in RCPT order."""

    recipients: list[delivery.Resolved] = field(default_factory=list)


class DeliverySession:
    def __init__(
        self,
        conn: Connection,
        store: MailStore,
        config: Config,
        executor: Executor | None,
        lmtp: bool,
        sieve: SieveFilter | None = None,
    ) -> None:
        self.conn = conn
        self.sieve = sieve
        self.store = store
        self.config = config
        self.executor = executor
        self.lmtp = lmtp
        limits = config.limits
        self.proto = SmtpServerConnection(
            lmtp=lmtp,
            hostname=config.hostname,
            limits=SmtpLimits(
                max_command_line=limits.smtp_max_command_line,
                max_message_size=limits.max_message_size,
                max_recipients=limits.smtp_max_recipients,
                max_errors=limits.smtp_max_errors,
            ),
        )
        self.helo = ""
        self.txn = Transaction()
        # The id of the session's log lines goes into Received: too, so a
        # message can be traced to the log of its delivery.
        self.session_id = conn.session_id or delivery.new_session_id()

    async def run(self) -> None:
        self.proto.start()
        while True:
            for event in self.proto.events():
                reply = await self.handle(event)
                if reply is not None:
                    self.proto.send(reply)
            if not await self.conn.write(self.proto.data_to_send()):
                return
            if self.proto.closed:
                return
            data = await self.conn.read(timeout=self.config.limits.smtp_idle_timeout)
            if data is None or self.conn.closing.is_set():
                # RFC 5321 4.5.3.2.7 lets a server close an idle connection;
                # 421 says why (3.8), as at shutdown.
                if data is None and self.conn.command_timed_out:
                    self.proto.close(Reply(421, "4.4.2", f"{self.config.hostname} command took too long, closing"))
                elif data is None:
                    self.proto.close(Reply(421, "4.4.2", f"{self.config.hostname} idle too long, closing"))
                else:
                    self.proto.close(Reply(421, "4.3.2", f"{self.config.hostname} shutting down"))
                await self.conn.write(self.proto.data_to_send())
                return
            self.proto.receive_data(data)

    async def handle(self, event: object) -> Reply | list[Reply] | None:
        match event:
            case Hello(domain=domain):
                self.helo = domain
                self.txn = Transaction()
                return None
            case MailFrom():
                self.txn = Transaction()
                return Reply(250, "2.1.0", "Sender OK")
            case RcptTo(address=address):
                return await self.rcpt(address)
            case MessageReceived(mail_from=mail_from, recipients=_, data=data):
                replies = await self.data(mail_from, data)
                self.txn = Transaction()
                return replies if self.lmtp else self.smtp_summary(replies)
            case Closed():
                return None
        return None

    async def rcpt(self, address: str) -> Reply:
        try:
            r = await delivery.resolve(self.store, self.config, address)
        except MailError:
            return Reply(451, "4.3.0", "Temporary failure, try again later")
        if r.account is None:
            if r.local_domain or self.lmtp:
                return Reply(550, "5.1.1", f"<{address}> User unknown")
            return Reply(550, "5.7.1", f"<{address}> Relaying denied")
        if not self.lmtp:
            # SMTP has one reply after DATA for every recipient: a full
            # mailbox must be refused here, per recipient, or the sender
            # never learns (RFC 5321 4.2.2: 452 at RCPT). LMTP answers per
            # recipient after DATA, as Dovecot does by default.
            refusal = await self.quota_refusal(r.account, address)
            if refusal is not None:
                return refusal
        self.txn.recipients.append(r)
        return Reply(250, "2.1.5", f"<{address}> Recipient OK")

    async def quota_refusal(self, account: str, address: str) -> Reply | None:
        try:
            quota = await self.store.get_quota(account)
        except MailError:
            return None  # decided again, exactly, when the message is stored
        if not quota.full:
            return None
        if quota.bytes_limit == 0 or quota.messages_limit == 0:
            return self.reply_for(address, MailError(ErrorKind.QUOTA_TOO_BIG, "quota limit is 0"))
        return self.reply_for(address, MailError(ErrorKind.NO_QUOTA, "mailbox full"))

    async def data(self, mail_from: str, data: bytes) -> list[Reply]:
        rcpts = self.txn.recipients
        protocol = "LMTP" if self.lmtp else ("ESMTPS" if self.conn.tls else "ESMTP")
        trace = delivery.trace_headers(
            self.config,
            mail_from=mail_from,
            helo=self.helo,
            peer_ip=self.conn.peer_ip,
            protocol=protocol,
            recipients=[r.address for r in rcpts],
            session_id=self.session_id,
        )
        targets = [Recipient(account=r.account or "") for r in rcpts]
        results = await delivery.deliver(
            self.store, self.executor, trace + data, targets,
            sieve=self.sieve, mail_from=mail_from, rcpt_addresses=[r.address for r in rcpts],
        )
        return [self.reply_for(r.address, res) for r, res in zip(rcpts, results)]

    def reply_for(self, address: str, result: object) -> Reply:
        if isinstance(result, AppendResult):
            return Reply(250, "2.0.0", f"<{address}> Saved as {result.uidvalidity}/{result.uid}")
        if isinstance(result, delivery.NotStored):
            return Reply(250, "2.0.0", f"<{address}> Delivered ({result.how} by the recipient's filter)")
        if isinstance(result, delivery.Refused):
            # Sieve reject/ereject at the protocol level (RFC 5429 sections
            # 2.1 and 2.2.1): the sending MTA bounces with this reason.
            log.info("delivery to %s refused by its filter: %s", address, result.reason)
            # Replies are ASCII unless SMTPUTF8 was negotiated (RFC 6531 3.7.4).
            return Reply(550, "5.7.1", result.reason.encode("ascii", "replace").decode("ascii"))
        assert isinstance(result, MailError)
        log.warning("delivery to %s failed: %s", address, result.text)
        match result.kind:
            case ErrorKind.NOT_FOUND:
                return Reply(550, "5.1.1", f"<{address}> User unknown")
            case ErrorKind.NO_QUOTA:
                # RFC 3463 X.2.2 "mailbox full": 4.2.2 while expunging can
                # make room (Dovecot with quota_full_tempfail=yes), so the
                # MTA retries instead of bouncing a user's mail at once.
                return Reply(452, "4.2.2", f"<{address}> Quota exceeded (mailbox for user is full), try again later")
            case ErrorKind.QUOTA_TOO_BIG:
                # Larger than the storage limit itself: it can never fit.
                return Reply(552, "5.2.2", f"<{address}> Quota exceeded (message is larger than the mailbox quota)")
            case ErrorKind.TOO_BIG:
                return Reply(552, "5.3.4", f"<{address}> Message too big")
            case ErrorKind.NO_SPACE:
                return Reply(452, "4.3.1", f"<{address}> Insufficient system storage, try again later")
            case _:
                return Reply(451, "4.3.0", f"<{address}> Temporary failure, try again later")

    @staticmethod
    def smtp_summary(replies: list[Reply]) -> Reply:
        """SMTP has one reply after DATA (RFC 5321 4.1.1.4). If any recipient
        got the message we must say 250, or the sender would send it again to
        those who have it; a partial failure is logged (a DSN for the failed
        recipients is not generated yet)."""
        ok = [r for r in replies if r.code == 250]
        if ok:
            return Reply(250, "2.0.0", f"Message accepted for {len(ok)} of {len(replies)} recipients")
        return replies[0]


def handler(store: MailStore, config: Config, executor: Executor | None, lmtp: bool,
            sieve: SieveFilter | None = None):
    # One filter per listener and process: its parsed-script cache is shared
    # by every session. Redirects and vacation replies go to DATA_DIR/queue;
    # the runner that sends them is wired into `serve` in a later step.
    if sieve is None:
        sieve = SieveFilter.for_data_dir(store, config.data_dir, config.hostname, executor)

    async def serve(conn: Connection) -> None:
        await DeliverySession(conn, store, config, executor, lmtp, sieve).run()

    return serve
