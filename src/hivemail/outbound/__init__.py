"""Outgoing mail: a durable queue and a relay (smarthost) client, for what
the server itself sends -- Sieve redirect and vacation replies (issue 8).

Public names::

    OutboundSettings, parse_smarthost     settings.py   what the config holds
    OutboundQueue, QueueEntry             queue.py      DATA_DIR/queue, crash-safe
    send_message, RelayResult, ...        relay.py      one message, one connection
    OutboundRunner                        runner.py     the task that sends

How it is meant to be wired (config.py, cli.py and app.py are not changed
here):

* ``config.py``: a section ``[outbound]`` whose keys are the fields of
  :class:`OutboundSettings` (``smarthost = "relay.example.org:587"``,
  ``starttls = "auto" | "required" | "off"``, ``auth_user``,
  ``auth_password``, ``auth_without_tls``, ``tls_verify``, ``tls_ca_file``,
  ``retry_initial``, ``retry_max``, ``retry_jitter``, ``max_age``,
  ``timeout``, ``data_timeout``), built with ``OutboundSettings(**table)``
  (its ``__post_init__`` raises ValueError with the reason: turn it into a
  ConfigError). ``helo_name`` comes from the server's ``hostname``.
* ``cli.py``: ``serve --smarthost HOST:PORT`` overrides ``smarthost``;
  check it with :func:`parse_smarthost` so a typo fails at start.
* ``app.py``, when ``smarthost`` is set::

      queue = OutboundQueue(Path(config.data_dir) / "queue", settings)
      runner = OutboundRunner(queue, settings)
      task_group.create_task(runner.run())      # recovers the queue first
      ... on shutdown: await runner.stop()

  and hand ``runner`` (explicitly, no global) to the delivery code: Sieve's
  redirect and vacation call ``await runner.submit(sender, rcpts, message)``
  *before* the delivery is acknowledged (vacation uses sender ``""``).
  With several worker processes only one takes the queue's lock and
  sends (``run`` raises QueueLocked in the others: run the runner in the
  supervisor, or catch QueueLocked and only ``submit`` there -- ``submit``
  works from every process; the runner polls every ``poll_interval``).
  With no smarthost, redirect and vacation should be turned off: nothing
  would ever leave the queue.
"""

from hivemail.outbound.queue import OutboundQueue, QueueEntry, QueueError, QueueLocked
from hivemail.outbound.relay import (
    RecipientResult,
    RecipientStatus,
    RelayResult,
    SmtpReply,
    client_tls_context,
    dot_stuff,
    send_message,
)
from hivemail.outbound.runner import OutboundRunner
from hivemail.outbound.settings import OutboundSettings, parse_smarthost

__all__ = [
    "OutboundQueue",
    "OutboundRunner",
    "OutboundSettings",
    "QueueEntry",
    "QueueError",
    "QueueLocked",
    "RecipientResult",
    "RecipientStatus",
    "RelayResult",
    "SmtpReply",
    "client_tls_context",
    "dot_stuff",
    "parse_smarthost",
    "send_message",
]
