"""Settings of the outgoing mail path: which relay, how to reach it, and
how long to keep trying.

Every value is data with a safe default (DESIGN.md principle 7). The
dataclass is frozen and checked when it is built, so a bad value fails at
start-up, not at the first redirect.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["OutboundSettings", "STARTTLS_MODES", "parse_smarthost"]

#: ``auto``: STARTTLS when the relay offers it (opportunistic, RFC 3207);
#: ``required``: defer the message if the relay does not offer it;
#: ``off``: never (loopback relays only).
STARTTLS_MODES = ("auto", "required", "off")

# RFC 5321 section 4.5.3.2.6: a client should wait 10 minutes for the reply
# to the end of DATA, because the relay may be processing the message.
DEFAULT_DATA_TIMEOUT = 600.0


def parse_smarthost(text: str) -> tuple[str, int]:
    """``"host:port"``, ``"[v6]:port"`` or a bare ``"host"`` (port 25, as
    Postfix's ``relayhost``) -> ``(host, port)``. Raises ``ValueError``
    with a reason."""
    text = text.strip()
    if not text:
        raise ValueError("empty smarthost")
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or not host:
            raise ValueError(f"bad smarthost {text!r}: unclosed '['")
        if rest and not rest.startswith(":"):
            raise ValueError(f"bad smarthost {text!r}: text after ']'")
        port_text = rest[1:] if rest else ""
    elif text.count(":") > 1:
        raise ValueError(f"bad smarthost {text!r}: write an IPv6 address as [addr]:port")
    else:
        host, _, port_text = text.partition(":")
        if not host:
            raise ValueError(f"bad smarthost {text!r}: no host")
        if ":" in text and not port_text:
            raise ValueError(f"bad smarthost {text!r}: empty port")
    if not port_text:
        return host, 25
    if not port_text.isascii() or not port_text.isdigit():
        raise ValueError(f"bad smarthost {text!r}: port is not a number")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise ValueError(f"bad smarthost {text!r}: port out of range")
    return host, port


@dataclass(frozen=True)
class OutboundSettings:
    """How mail leaves the server (config section ``[outbound]``)."""

    # "host:port" of the relay; "" (the default): no outgoing mail (the
    # runner refuses to start, and redirect/vacation are not carried out).
    smarthost: str = ""
    starttls: str = "auto"
    # AUTH PLAIN (or LOGIN if only that is offered) when auth_user is set.
    auth_user: str = ""
    auth_password: str = ""
    # Credentials go only over TLS unless this is set (a relay on loopback).
    auth_without_tls: bool = False
    # Verify the relay's certificate and name. Off only for tests or a relay
    # with a self-signed certificate; better: tls_ca_file.
    tls_verify: bool = True
    # A PEM file of CAs to trust instead of the system's (a private CA or
    # the relay's own self-signed certificate).
    tls_ca_file: str = ""
    # Our name in EHLO (the server's hostname when wired in).
    helo_name: str = "localhost"
    # Seconds before the first retry; doubles with each attempt up to
    # retry_max (Postfix: minimal_backoff_time 300 s, maximal 4000 s).
    retry_initial: float = 60.0
    retry_max: float = 3600.0
    # Each delay is shortened by a random fraction up to this, so messages
    # deferred together do not all come back in the same second.
    retry_jitter: float = 0.1
    # Seconds a message may stay queued before it is given up (moved to
    # queue/failed/). Postfix's maximal_queue_lifetime is 5 days.
    max_age: float = 5 * 86400.0
    # Seconds for connecting and for each command's reply (RFC 5321
    # 4.5.3.2 asks for 5 minutes; a smarthost we run next to is faster).
    timeout: float = 60.0
    # Seconds for the reply to the end of DATA (RFC 5321 4.5.3.2.6).
    data_timeout: float = DEFAULT_DATA_TIMEOUT

    def __post_init__(self) -> None:
        if self.smarthost:
            parse_smarthost(self.smarthost)
        if self.starttls not in STARTTLS_MODES:
            raise ValueError(f"outbound starttls must be one of {', '.join(STARTTLS_MODES)}: {self.starttls!r}")
        if self.auth_user and self.starttls == "off" and not self.auth_without_tls:
            raise ValueError("outbound auth_user with starttls = off needs auth_without_tls = true")
        if self.auth_password and not self.auth_user:
            raise ValueError("outbound auth_password without auth_user")
        if not 0 < self.retry_initial <= self.retry_max:
            raise ValueError("outbound retry_initial must be > 0 and <= retry_max")
        if not 0 <= self.retry_jitter < 1:
            raise ValueError("outbound retry_jitter must be in [0, 1)")
        for name in ("max_age", "timeout", "data_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"outbound {name} must be > 0")

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) of the smarthost; ValueError when none is set."""
        if not self.smarthost:
            raise ValueError("no smarthost configured")
        return parse_smarthost(self.smarthost)

    def retry_delay(self, attempts: int, random_fraction: float) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt (1 = the
        first): retry_initial * 2**(attempts-1), capped at retry_max, then
        shortened by ``random_fraction * retry_jitter`` (random_fraction in
        [0, 1)). Never above retry_max, never below (1-jitter) of the step."""
        step = self.retry_initial * 2.0 ** min(max(attempts, 1) - 1, 64)
        return min(step, self.retry_max) * (1.0 - self.retry_jitter * random_fraction)
