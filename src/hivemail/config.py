"""Configuration: frozen dataclasses loaded from a TOML file.

Every key, its meaning and its default is documented in ``hivemail.toml`` at
the top of the repository; that file and the dataclasses below must agree
(``tests/unit/test_config.py`` checks it). Command-line flags override the
file. There are no module-level settings: the loaded :class:`Config` is
passed explicitly to whatever needs it.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from hivemail.outbound.settings import OutboundSettings


class ConfigError(ValueError):
    """A configuration file or flag that cannot be used; the text says why."""


@dataclass(frozen=True)
class ListenConfig:
    """``host:port`` addresses; an empty string means the listener is off."""

    imap: str = ""
    imaps: str = ""
    pop3: str = ""
    pop3s: str = ""
    lmtp: str = ""
    smtp: str = ""
    # ManageSieve (RFC 5804); 4190 is its IANA port.
    managesieve: str = ""


@dataclass(frozen=True)
class TlsConfig:
    # With both empty, a self-signed certificate is made in the data
    # directory on first start (tls-cert.pem / tls-key.pem).
    cert: str = ""
    key: str = ""


@dataclass(frozen=True)
class LimitsConfig:
    # 50 MiB, as Postfix's message_size_limit is 10 MB and Gmail's 25 MB:
    # large enough for real attachments, small enough to bound memory.
    max_message_size: int = 50 * 1024 * 1024
    # RFC 5321 4.5.3.1.4 asks for at least 512 octets; clients with long
    # ESMTP parameters need more, and nothing needs more than a few KB.
    smtp_max_command_line: int = 4096
    smtp_max_recipients: int = 1000
    # Syntax or sequence errors tolerated on one SMTP/LMTP connection
    # before it is closed with 421 (Postfix's smtpd_hard_error_limit is 20).
    smtp_max_errors: int = 20
    max_connections: int = 1000
    max_connections_per_ip: int = 100
    # Seconds a connection may stay silent: RFC 5321 4.5.3.2.7 asks for 5
    # minutes in SMTP; we use the same for LMTP.
    smtp_idle_timeout: float = 300.0
    # Seconds a client may take over one command (IMAP, POP3, SMTP, LMTP),
    # from its first byte to the server's answer, plus one second for each
    # command_min_rate bytes it sent: a client sending a byte a second is
    # dropped; a big APPEND or DATA on a slow link is not. Postfix's
    # smtpd_per_record_deadline is the precedent. 0 turns it off.
    command_timeout: float = 60.0
    command_min_rate: int = 1024
    # Seconds the server waits for a client that reads nothing of what it
    # is sent before dropping it (no progress at all in that time).
    send_timeout: float = 300.0


@dataclass(frozen=True)
class DeliveryConfig:
    # user+tag@domain delivers to user@domain (RFC 5233 calls "tag" the detail).
    recipient_delimiter: str = "+"
    add_received: bool = True
    add_return_path: bool = True


@dataclass(frozen=True)
class AuthConfig:
    # Plaintext logins on a connection that is neither TLS nor loopback.
    allow_plaintext_without_tls: bool = False
    # Whether a connection from loopback counts as secure (local clients,
    # webmail on the same host). Tests turn it off to see LOGINDISABLED.
    loopback_is_secure: bool = True
    # Seconds to wait before answering a failed login; doubles with each
    # recent failure from the same address (or for the same account from
    # it), up to failure_delay_max. Dovecot's auth penalty: 2, 4, 8, 15 s.
    failure_delay: float = 2.0
    failure_delay_max: float = 15.0
    # Failed logins on one connection before it is closed.
    max_failures_per_connection: int = 3
    # Failures are counted over this many seconds (a count starts over
    # once its first failure is this old).
    failure_window: float = 600.0
    # Over these counts, logins are refused for lockout_time seconds with
    # a "try later" answer (IMAP NO [UNAVAILABLE], POP3 -ERR [SYS/TEMP]),
    # without checking the password: from one client address (IPv6: its
    # /48, as Dovecot); for one account from one address; and for one
    # account from everywhere, which then refuses only the addresses that
    # have failed on it, so its owner can still log in (auth/throttle.py).
    max_failures_per_ip: int = 30
    max_failures_per_account_ip: int = 5
    max_failures_per_account: int = 100
    lockout_time: float = 600.0


@dataclass(frozen=True)
class ImapConfig:
    # RFC 9051 5.4: the autologout timer of an authenticated session must
    # be at least 30 minutes; before login a short one frees the slot.
    idle_timeout: float = 1800.0
    login_timeout: float = 60.0
    # Longest command line, literals excluded (Dovecot: imap_max_line_length 64k).
    max_line: int = 65536
    # Largest literal outside APPEND (a search string, a password).
    max_literal: int = 65536
    # Bytes of one command outside APPEND message literals.
    max_command: int = 1048576
    # Parenthesis nesting in SEARCH and FETCH.
    max_nesting: int = 32
    # Commands parsed ahead while earlier ones are still being answered.
    max_pipelined: int = 32


#: What POP3 DELE may do at QUIT (config ``pop3.dele``, account setting ``pop3_dele``).
POP3_DELE_ACTIONS = ("expunge", "trash", "keep-read")


@dataclass(frozen=True)
class Pop3Config:
    # UIDL of a message without an explicit one: "dovecot" (%08Xu%08Xv,
    # Dovecot's default), "cyrus" (%v.%u, Cyrus's uidl_format = cyrus),
    # "courier" (%v-%u), "uid" (%u), or a template of %u (UID), %v
    # (UIDVALIDITY), %X/%x (upper/lower hex), a width such as %08X, and %%.
    uidl_format: str = "dovecot"
    # What DELE does at QUIT unless the account's pop3_dele setting says:
    # "expunge" (RFC 1939), "trash" (move to Trash) or "keep-read" (mark
    # \Seen and leave the message).
    dele: str = "expunge"
    # Seconds of silence before the server closes the connection without a
    # response and without deleting anything (RFC 1939 section 3: at least 10 minutes).
    idle_timeout: float = 600.0
    # Minimum seconds between two logins of an account (RFC 2449 LOGIN-DELAY);
    # 0 = no limit.
    login_delay: int = 0
    # Longest command line, CRLF included (RFC 2449 section 4: at least 255).
    max_command_line: int = 255
    # Rejected commands on one connection before it is closed.
    max_bad_commands: int = 20


@dataclass(frozen=True)
class ManageSieveConfig:
    # Largest script accepted (PUTSCRIPT, CHECKSCRIPT, HAVESPACE), in octets:
    # the Sieve parser's own default limit (sieve.Limits.max_script_size).
    max_script_size: int = 64 * 1024
    # Scripts one account may keep; more get NO (QUOTA/MAXSCRIPTS).
    max_scripts: int = 32
    # Seconds of silence before BYE: after login, and before a login happens.
    idle_timeout: float = 1800.0
    login_timeout: float = 60.0


@dataclass(frozen=True)
class PostgresConfig:
    # Message bytes as files in this directory (shared by every node, e.g.
    # over NFS) instead of in the database (table blob_data); "" = in the
    # database. Used only when ``storage`` is a PostgreSQL URL.
    blob_dir: str = ""


#: URL schemes of ``storage`` that select the PostgreSQL store.
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(storage: str) -> bool:
    return storage.startswith(POSTGRES_SCHEMES)


@dataclass(frozen=True)
class Config:
    data_dir: str = "./hivemail-data"
    # Where the mail is stored: "" = the embedded store (SQLite and files)
    # in data_dir; "postgresql://user@host:port/db" = the PostgreSQL store,
    # shared by several nodes. data_dir still holds node-local things (TLS
    # certificate, locks and counters, the outbound queue).
    storage: str = ""
    # The name this server gives itself in greetings and Received: fields.
    hostname: str = "localhost"
    log_level: str = "info"
    # Worker processes serving clients; 0 = one per CPU core.
    workers: int = 0
    listen: ListenConfig = field(default_factory=ListenConfig)
    tls: TlsConfig = field(default_factory=TlsConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    pop3: Pop3Config = field(default_factory=Pop3Config)
    imap: ImapConfig = field(default_factory=ImapConfig)
    managesieve: ManageSieveConfig = field(default_factory=ManageSieveConfig)
    # Mail the server sends itself (Sieve redirect and vacation): the
    # relay, its TLS and AUTH, and the queue's retry policy.
    outbound: OutboundSettings = field(default_factory=OutboundSettings)
    postgresql: PostgresConfig = field(default_factory=PostgresConfig)

    def __post_init__(self) -> None:
        if self.storage and not is_postgres_url(self.storage):
            # Only the scheme is shown: the rest of a URL may hold a password.
            what = self.storage.partition("://")[0] + "://" if "://" in self.storage else self.storage
            raise ConfigError(f"storage: {what!r} is not supported: use a postgresql:// URL, or \"\""
                              " for the embedded store in data_dir")

    def with_overrides(self, **changes: Any) -> Config:
        """A copy with dotted keys replaced: ``with_overrides(**{"listen.lmtp": "127.0.0.1:24"})``."""
        cfg = self
        for dotted, value in changes.items():
            cfg = _replace_dotted(cfg, dotted.split("."), value)
        return cfg


def _replace_dotted(obj: Any, path: list[str], value: Any) -> Any:
    head, *rest = path
    if head not in {f.name for f in fields(obj)}:
        raise ConfigError(f"unknown setting {'.'.join(path)!r}")
    if rest:
        return replace(obj, **{head: _replace_dotted(getattr(obj, head), rest, value)})
    return replace(obj, **{head: value})


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    known = {f.name: f for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        f = known.get(key)
        if f is None:
            raise ConfigError(f"{where}: unknown key {key!r}")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        if dataclasses.is_dataclass(default):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}{key}: expected a table")
            kwargs[key] = _build(type(default), value, f"{where}{key}.")
            continue
        expected = type(default)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ConfigError(f"{where}{key}: expected {expected.__name__}, got {type(value).__name__}")
        kwargs[key] = value
    try:
        return cls(**kwargs)
    except ValueError as e:  # a section's own checks (OutboundSettings)
        raise ConfigError(f"{where}{e}") from None


def load(path: str | Path | None) -> Config:
    """Load a TOML file; ``None`` gives the defaults."""
    if path is None:
        return Config()
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: {e}") from None
    return _build(Config, data, "")


def parse_hostport(value: str) -> tuple[str, int]:
    """``"127.0.0.1:143"`` / ``"[::1]:143"`` -> (host, port)."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ConfigError(f"expected HOST:PORT, got {value!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    n = int(port)
    if not 0 <= n <= 65535:
        raise ConfigError(f"port out of range in {value!r}")
    return host, n
