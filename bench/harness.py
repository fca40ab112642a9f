"""Command-line options and server set-up shared by the workload scripts.

Every workload script takes the same server options:

* ``--only dovecot|hivemail``: measure one of the two private servers;
* ``--dovecot-format sdbox|mdbox|maildir`` (default sdbox, Dovecot's
  recommended format) and ``--dovecot-fsync optimized|always|never``
  (default optimized, as shipped; ``always`` was the harness's earlier
  setting);
* ``--hivemail-command CMD``, ``--hivemail-workers N``;
* ``--workdir DIR`` (parent of the temporary directories; must be a real
  disk), ``--keep``;
* ``--host H --port P --user U --password PW``: run the workload against an
  already running server instead (nothing is started or populated; the
  figures are reported under the name ``--name``, default "external").
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.servers import DovecotServer, HivemailServer  # noqa: E402

PASSWORD = "bench-password"


def add_server_options(parser: argparse.ArgumentParser, *, port_help: str = "IMAP port") -> None:
    g = parser.add_argument_group("servers")
    g.add_argument("--only", choices=("dovecot", "hivemail"), help="measure one server")
    g.add_argument("--dovecot-format", choices=("sdbox", "mdbox", "maildir"), default="sdbox",
                   help="Dovecot mail storage (default sdbox, its recommended format)")
    g.add_argument("--dovecot-fsync", choices=("optimized", "always", "never"), default="optimized",
                   help="Dovecot mail_fsync (default optimized, as shipped; 'always' was the "
                        "harness's earlier setting)")
    g.add_argument("--hivemail-command", metavar="CMD",
                   help="how to run hivemail, split on spaces (default: the repo venv's)")
    g.add_argument("--hivemail-workers", type=int, metavar="N",
                   help="hivemail serve --workers N (default: its own, one per core)")
    g.add_argument("--workdir", help="parent of the servers' temporary directories")
    g.add_argument("--keep", action="store_true", help="keep the servers' directories")
    g.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    e = parser.add_argument_group("an already running server (nothing is started)")
    e.add_argument("--host", help="server address; with --port, measure that server only")
    e.add_argument("--port", type=int, help=port_help)
    e.add_argument("--user", help="account to use (where a script needs several, a "
                                  "'{n}' in it is replaced by 0, 1, ...)")
    e.add_argument("--password", default=PASSWORD, help=f"password (default {PASSWORD})")
    e.add_argument("--name", default="external", help="label of the external server in reports")


def external(args: argparse.Namespace) -> bool:
    return bool(args.host or args.port)


def server_names(args: argparse.Namespace) -> list[str]:
    return [args.only] if args.only else ["dovecot", "hivemail"]


def make_server(name: str, args: argparse.Namespace, *, protocols: tuple[str, ...],
                dovecot: dict | None = None, hivemail: dict | None = None):
    if name == "dovecot":
        return DovecotServer(mail_format=args.dovecot_format, mail_fsync=args.dovecot_fsync,
                             workdir_parent=args.workdir, keep=args.keep, **(dovecot or {}))
    command = args.hivemail_command.split() if args.hivemail_command else None
    return HivemailServer(command=command, protocols=protocols, workers=args.hivemail_workers,
                          workdir_parent=args.workdir, keep=args.keep, start_timeout=120,
                          **(hivemail or {}))


def write_json(path: str | None, payload: dict) -> None:
    if path:
        Path(path).write_text(json.dumps(payload, indent=2, default=str) + "\n")


def pct(xs: list[float], q: float) -> float | None:
    """The q-quantile (nearest rank) of *xs*, None when empty."""
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


class ExternalServer:
    """Stands in for a DovecotServer/HivemailServer when a workload runs
    against an already running server: every port is *port*, and the
    /proc measurements are 0 unless *pid* is given."""

    def __init__(self, name: str, host: str, port: int, pid: int | None = None) -> None:
        self.name = name
        self.host = host
        self.imap_port = self.pop3_port = self.lmtp_port = port
        self._pid = pid

    @property
    def pid(self) -> int:
        return self._pid or 0

    def _measure(self, fn) -> float:
        from bench import servers

        return getattr(servers, fn)(self._pid) if self._pid else 0

    def cpu_seconds(self) -> float:
        return self._measure("tree_cpu_seconds")

    def rss_bytes(self) -> int:
        return self._measure("tree_rss_bytes")

    def pss_bytes(self) -> int:
        return self._measure("tree_pss_bytes")

    def describe(self) -> str:
        return f"already running server at {self.host}:{self.imap_port}"
