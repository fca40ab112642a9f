"""Private, throw-away mail servers for the benchmarks: Dovecot and hivemail.

Both classes have the same shape so a benchmark can loop over them::

    with DovecotServer() as dovecot:          # or HivemailServer()
        dovecot.add_user("a@example.test", "pw")
        ... deliver to 127.0.0.1:dovecot.lmtp_port, read via imap_port ...
        print(dovecot.rss_bytes(), dovecot.cpu_seconds())

Everything a server writes (config, sockets, state, mail, logs) lives in one
temporary directory made by ``start()`` (or by the first ``add_user()``) and
removed by ``stop()`` unless ``keep=True``.  Ports are free ports on
127.0.0.1 chosen at that moment.  ``stop()`` signals the server's own pid
(SIGTERM, then SIGKILL after a timeout), then SIGKILLs by pid any member of
its process tree that is still alive; nothing is ever stopped by name.

``start()`` returns once every listener accepts TCP connections, or raises
``ServerStartError`` with the tail of the server's log.  ``add_user()``
raises ``ServerCommandError`` when the server's tooling refuses.

Both errors derive from ``ServerError`` so a benchmark can report a server
that is not available (hivemail while its server is being written) and go
on with the other.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DOVECOT_BINARY = "/usr/sbin/dovecot"

# When the benchmark runs as root (containers, CI) mail cannot be accessed as
# uid 0: Dovecot's passwd-file refuses UID 0 ("invalid UID '0'"), and with
# mail_uid = 0 plus first_valid_uid = 0 the mail processes still fail with
# "Couldn't drop privileges: Mail access not allowed for root".  So, as the
# Dovecot wiki does for virtual users, mail is owned by a dedicated "vmail"
# uid/gid.  It need not exist in /etc/passwd: Dovecot takes it numerically.
VMAIL_ID = 5000


class ServerError(RuntimeError):
    """Base class: this server cannot be used for the benchmark."""


class ServerStartError(ServerError):
    """The server exited or did not listen in time; the message has its log."""


class ServerCommandError(ServerError):
    """A management command (user add, password hashing) failed."""


# --------------------------------------------------------------------------
# /proc helpers


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the ``(comm)``; index 0 is ``state``."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm may hold spaces and parentheses: split after the last ')'.
    return raw.rsplit(")", 1)[1].split()


def process_tree(pid: int) -> list[int]:
    """*pid* and all its live descendants, found by walking /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields is None:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, ()))
    return tree


def tree_rss_bytes(pid: int) -> int:
    """Sum of VmRSS over the process tree of *pid* (shared pages counted
    once per process, so a multi-process server is over-stated; see
    ``tree_pss_bytes``)."""
    page = os.sysconf("SC_PAGE_SIZE")
    total = 0
    for p in process_tree(pid):
        try:
            resident = int(Path(f"/proc/{p}/statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
        total += resident * page
    return total


def tree_pss_bytes(pid: int) -> int:
    """Sum of the proportional set size over the tree: shared pages are
    divided among the processes sharing them, so sums are comparable
    between a one-process and a many-process server."""
    total = 0
    for p in process_tree(pid):
        try:
            text = Path(f"/proc/{p}/smaps_rollup").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("Pss:"):
                total += int(line.split()[1]) * 1024
                break
    return total


def tree_cpu_seconds(pid: int) -> float:
    """User+system CPU of the tree, including children it has reaped.

    Each live process contributes utime+stime+cutime+cstime; a reaped
    process is no longer in the tree, so nothing is counted twice.  A child
    that exited but is not reaped yet is missed until it is.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in process_tree(pid):
        fields = _stat_fields(p)
        if fields is None:
            continue
        # stat fields 14..17 (1-based, comm = 2) -> indexes 11..14 here.
        total += sum(int(v) for v in fields[11:15])
    return total / ticks


def _wait_listening(proc: subprocess.Popen[bytes], ports: list[int], timeout: float) -> str | None:
    """Wait until every port accepts a connection.  Returns None when all do,
    else the reason ("exited with N" / "timed out")."""
    deadline = time.monotonic() + timeout
    pending = list(ports)
    while pending:
        code = proc.poll()
        if code is not None:
            return f"exited with status {code}"
        if time.monotonic() > deadline:
            return f"did not listen on {pending} within {timeout:.0f} s"
        port = pending[0]
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                pending.pop(0)
        except OSError:
            time.sleep(0.05)
    return None


def raise_nofile_limit() -> int:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit (servers
    started afterwards inherit it); returns the new soft limit."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return hard
    return soft


def remove_tree(path: Path) -> None:
    """Remove a server's directory without waiting: it is renamed at once
    and ``rm -rf`` runs in the background.  A 100,000-message mailbox is
    100,000 unlinks, minutes on a loaded machine, and nothing needs to wait
    for them."""
    trash = path.with_name(path.name + ".deleting")
    try:
        os.rename(path, trash)
        subprocess.Popen(["rm", "-rf", "--", str(trash)], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    except OSError:
        shutil.rmtree(path, ignore_errors=True)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


# --------------------------------------------------------------------------
# Common lifecycle


class _ManagedServer:
    """Workdir, start/stop by pid, /proc measurements.  Subclasses provide
    ``_prepare()`` (called once, makes files and picks ports), ``_command()``
    and ``log_path``."""

    name = "server"

    def __init__(self, *, workdir_parent: str | os.PathLike[str] | None = None,
                 keep: bool = False, start_timeout: float = 20.0) -> None:
        self._workdir_parent = workdir_parent
        self.keep = keep
        self.start_timeout = start_timeout
        self.workdir: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.ports: dict[str, int] = {}
        self._stderr_file = None
        self._prepared = False

    # ports ------------------------------------------------------------
    @property
    def imap_port(self) -> int:
        return self.ports["imap"]

    @property
    def pop3_port(self) -> int:
        return self.ports["pop3"]

    @property
    def lmtp_port(self) -> int:
        return self.ports["lmtp"]

    @property
    def pid(self) -> int:
        if self.process is None:
            raise ServerError(f"{self.name} is not running")
        return self.process.pid

    # lifecycle --------------------------------------------------------
    def _ensure_prepared(self) -> None:
        if self._prepared:
            return
        self.workdir = Path(tempfile.mkdtemp(prefix=f"hmb-{self.name}-", dir=self._workdir_parent))
        # Unprivileged helpers (Dovecot's login and mail processes, which
        # do not run as root) must be able to traverse it.
        os.chmod(self.workdir, 0o755)
        try:
            self._prepare()
        except BaseException:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
            raise
        self._prepared = True

    def _prepare(self) -> None:
        raise NotImplementedError

    def _command(self) -> list[str]:
        raise NotImplementedError

    @property
    def log_path(self) -> Path:
        raise NotImplementedError

    def start(self) -> None:
        """Start the server; return once all its listeners accept."""
        if self.process is not None:
            raise ServerError(f"{self.name} already started")
        self._ensure_prepared()
        assert self.workdir is not None
        self._stderr_file = open(self.workdir / "stderr.log", "ab")
        try:
            self.process = subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=self._stderr_file,
                stderr=self._stderr_file,
                cwd=self.workdir,
                # Many-connection benchmarks (the idle crowd) need more
                # than the usual 1024 descriptors in the server.
                preexec_fn=raise_nofile_limit,
            )
        except OSError as exc:
            raise ServerStartError(f"{self.name}: cannot run {self._command()[0]}: {exc}") from exc
        problem = _wait_listening(self.process, list(self.ports.values()), self.start_timeout)
        if problem is not None:
            log = self.log_text()
            self.stop(remove=False)
            raise ServerStartError(f"{self.name} {problem}; log tail:\n{log}")

    def stop(self, timeout: float = 10.0, *, remove: bool | None = None) -> None:
        """SIGTERM the server (SIGKILL after *timeout*), reap it, SIGKILL any
        leftover member of its process tree by pid, and remove the workdir
        unless ``keep`` (or *remove* False)."""
        proc, self.process = self.process, None
        if proc is not None:
            tree = process_tree(proc.pid) if proc.poll() is None else []
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            for p in tree[1:]:
                # Children of a master that was SIGKILLed; they are ours.
                try:
                    os.kill(p, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        if self._stderr_file is not None:
            self._stderr_file.close()
            self._stderr_file = None
        if remove is None:
            remove = not self.keep
        if remove and self.workdir is not None:
            remove_tree(self.workdir)
            self.workdir = None
            self._prepared = False

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # measurements -----------------------------------------------------
    def rss_bytes(self) -> int:
        """Sum of RSS over the server's process tree, from /proc."""
        return tree_rss_bytes(self.pid)

    def pss_bytes(self) -> int:
        """Sum of PSS over the server's process tree, from /proc."""
        return tree_pss_bytes(self.pid)

    def cpu_seconds(self) -> float:
        """CPU time used so far by the server's process tree."""
        return tree_cpu_seconds(self.pid)

    def log_text(self, lines: int = 30) -> str:
        out = [_tail(self.log_path, lines)]
        if self.workdir is not None and self.log_path != self.workdir / "stderr.log":
            stderr = _tail(self.workdir / "stderr.log", lines)
            if stderr not in ("(empty log)", "(no log)"):
                out.append("stderr:\n" + stderr)
        return "\n".join(out)


# --------------------------------------------------------------------------
# Dovecot


def dovecot_version(binary: str = DOVECOT_BINARY) -> str:
    """``dovecot --version``, e.g. "2.3.19.1 (9b53102964)"."""
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
    except OSError as exc:
        raise ServerStartError(f"dovecot: cannot run {binary}: {exc}") from exc
    return out.stdout.strip()


def _internal_gid() -> int:
    """The gid of Dovecot's default_internal_user, ``dovecot``."""
    try:
        return pwd.getpwnam("dovecot").pw_gid
    except KeyError:
        raise ServerStartError("dovecot: no 'dovecot' system user (default_internal_user)") from None


#: Dovecot's recommended formats for new installs are its own dbox formats
#: (sdbox: one file per message; mdbox: several per file).  The harness
#: uses sdbox unless told otherwise; "maildir" was the earlier default.
DOVECOT_FORMATS = {
    "sdbox": "sdbox:~/sdbox",
    "mdbox": "mdbox:~/mdbox",
    "maildir": "maildir:~/Maildir",
}


class DovecotServer(_ManagedServer):
    """A private Dovecot 2.3 (``dovecot -F -c <workdir>/dovecot.conf``).

    The configuration is self-contained (nothing from /etc/dovecot is read)
    and close to a stock Debian install with virtual users:

    * IMAP, POP3 and LMTP on 127.0.0.1, free ports, ``ssl = no``, plaintext
      auth allowed (``disable_plaintext_auth = no``; 2.4 renamed it
      ``auth_allow_cleartext`` -- only 2.3 syntax is generated, and
      ``start()`` refuses another major version);
    * passwd-file passdb and userdb, passwords hashed with *password_scheme*
      (default ARGON2ID, as hivemail's argon2id) by ``doveadm pw``;
    * *mail_format* ``sdbox`` (default; Dovecot's recommended format for new
      installs), ``mdbox`` or ``maildir``, homes under
      ``<workdir>/mail/<user>``; *mail_location* overrides it verbatim;
    * *mail_fsync* ``optimized`` (default: as shipped) or ``always`` (the
      harness's earlier setting, since hivemail fsyncs before it
      acknowledges) or ``never``;
    * ``lmtp_save_to_detail_mailbox = no``;
    * process model and login chroot as shipped; ``mail_max_userip_connections``
      raised to *max_userip_connections* (1000) so multi-connection
      benchmarks are not refused;
    * *per_user_uid*: each user gets its own uid/gid (5000 + n) instead of
      the one shared vmail id, so that per-uid kernel limits (inotify
      instances: ``fs.inotify.max_user_instances``, 128 by default) apply
      per user as on a system-users install.  Root only.

    *extra_config* is appended verbatim (last setting wins in Dovecot).
    """

    name = "dovecot"

    def __init__(self, *, binary: str = DOVECOT_BINARY, mail_format: str = "sdbox",
                 mail_location: str | None = None, password_scheme: str = "ARGON2ID",
                 mail_fsync: str = "optimized", max_userip_connections: int = 1000,
                 per_user_uid: bool = False, extra_config: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        if mail_format not in DOVECOT_FORMATS:
            raise ValueError(f"mail_format must be one of {sorted(DOVECOT_FORMATS)}")
        self.binary = binary
        self.mail_format = mail_format
        self.mail_location = mail_location or DOVECOT_FORMATS[mail_format]
        self.password_scheme = password_scheme
        self.mail_fsync = mail_fsync
        self.max_userip_connections = max_userip_connections
        self.per_user_uid = per_user_uid and os.getuid() == 0
        self.extra_config = extra_config
        self.users: dict[str, str] = {}  # name -> passwd-file line
        self.user_ids: dict[str, tuple[int, int]] = {}

    def describe(self) -> str:
        """One line for reports: version, format, fsync."""
        return (f"Dovecot {self.version()}, {self.mail_format} ({self.mail_location}), "
                f"mail_fsync = {self.mail_fsync}, passwd-file, stock process model")

    @property
    def log_path(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "dovecot.log"

    @property
    def conf_path(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "dovecot.conf"

    @property
    def mail_root(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "mail"

    def version(self) -> str:
        return dovecot_version(self.binary)

    def _mail_ids(self, user: str | None = None) -> tuple[int, int]:
        """The uid/gid owning *user*'s mail (the shared vmail id unless
        ``per_user_uid``)."""
        if user is not None and user in self.user_ids:
            return self.user_ids[user]
        if os.getuid() == 0:
            return VMAIL_ID, VMAIL_ID
        return os.getuid(), os.getgid()

    def home(self, user: str) -> Path:
        return self.mail_root / user

    def doveadm(self, *args: str, timeout: float = 1800.0,
                options: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``doveadm -c <our config> [-o k=v ...] ARGS``; raises
        ServerCommandError when it fails."""
        argv = ["doveadm", "-c", str(self.conf_path)]
        for key, value in (options or {}).items():
            argv += ["-o", f"{key}={value}"]
        argv += list(args)
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                                 stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ServerCommandError(f"doveadm {args[0]}: {exc}") from exc
        if out.returncode != 0:
            raise ServerCommandError(f"doveadm {' '.join(args[:3])} exited {out.returncode}: "
                                     f"{(out.stderr or out.stdout).strip()[-500:]}")
        return out

    def import_maildir(self, user: str, maildir: Path) -> None:
        """Copy every message of the maildir *maildir* (flags, internal
        dates from the file mtimes) into *user*'s INBOX in the configured
        format, with ``doveadm import`` and fsync off for the load (the
        server need not run).  The maildir must be readable by the user's
        uid."""
        self.doveadm("import", "-u", user, f"maildir:{maildir}", "", "all",
                     options={"mail_fsync": "never"})

    def _prepare(self) -> None:
        assert self.workdir is not None
        major = self.version().split(".")[:2]
        if major != ["2", "3"]:
            raise ServerStartError(
                f"dovecot {'.'.join(major)} is installed; this harness writes 2.3 syntax"
            )
        for sub in ("run", "state", "mail"):
            (self.workdir / sub).mkdir()
        uid, gid = self._mail_ids()
        os.chown(self.mail_root, uid, gid)
        self.ports = {"imap": free_port(), "pop3": free_port(), "lmtp": free_port()}
        self._write_users()
        self.conf_path.write_text(self._config())

    def _config(self) -> str:
        assert self.workdir is not None
        w = self.workdir
        uid, gid = self._mail_ids()
        if os.getuid() == 0:
            # Stock: login processes run as dovenull chrooted, internal
            # services as dovecot (both made by the Debian package).
            privileges = ""
        else:
            me = pwd.getpwuid(os.getuid()).pw_name
            # Without root there is no chroot and no user switching.
            privileges = (
                f"default_login_user = {me}\n"
                f"default_internal_user = {me}\n"
                f"first_valid_uid = {uid}\n"
                "service imap-login {\n  chroot =\n}\n"
                "service pop3-login {\n  chroot =\n}\n"
            )
        return f"""\
# Generated by bench/servers.py for a private benchmark instance (Dovecot 2.3).
base_dir = {w}/run
state_dir = {w}/state
instance_name = hmbench-{os.getpid()}-{w.name}
log_path = {self.log_path}
protocols = imap pop3 lmtp
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = {self.mail_location}
mail_fsync = {self.mail_fsync}
lmtp_save_to_detail_mailbox = no
postmaster_address = postmaster@example.test
protocol imap {{
  mail_max_userip_connections = {self.max_userip_connections}
}}
protocol pop3 {{
  mail_max_userip_connections = {self.max_userip_connections}
}}
{privileges}
passdb {{
  driver = passwd-file
  args = {w}/users
}}
userdb {{
  driver = passwd-file
  args = {w}/users
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.ports["imap"]}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {self.ports["pop3"]}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {self.ports["lmtp"]}
  }}
}}
{self.extra_config}
"""

    def _hash(self, password: str) -> str:
        if self.password_scheme.upper() == "PLAIN":
            return "{PLAIN}" + password
        try:
            out = subprocess.run(
                ["doveadm", "-c", str(self.conf_path), "pw", "-s", self.password_scheme, "-p", password],
                capture_output=True, text=True, timeout=60,
            )
        except OSError as exc:
            raise ServerCommandError(f"dovecot: cannot run doveadm: {exc}") from exc
        if out.returncode != 0 or not out.stdout.startswith("{"):
            raise ServerCommandError(f"doveadm pw failed: {out.stderr.strip()}")
        return out.stdout.strip()

    def add_user(self, name: str, password: str, *, password_hash: str | None = None) -> None:
        """Add or replace a user; may be called before or after ``start()``.
        *password_hash* (a PHC string such as ``$argon2id$...``) is used
        instead of hashing *password* with ``doveadm pw``.

        Dovecot's auth process re-stats a passwd-file at most once per
        second of its clock, so when the server runs this returns only after
        the next whole second, from which on the new user is visible."""
        self._ensure_prepared()
        if ":" in name or "\n" in name + password:
            raise ValueError("user names and passwords may not contain ':' or newlines")
        if self.per_user_uid and name not in self.user_ids:
            n = VMAIL_ID + 1 + len(self.user_ids)
            self.user_ids[name] = (n, n)
        uid, gid = self._mail_ids(name)
        home = self.mail_root / name
        if self.per_user_uid:
            # Dovecot creates the home as the user, who cannot write the
            # (vmail-owned) mail root: make it here.
            home.mkdir(mode=0o700, exist_ok=True)
            os.chown(home, uid, gid)
        # name:password:uid:gid:gecos:home:shell:extra
        hashed = self._hash(password) if password_hash is None else (
            "{ARGON2ID}" + password_hash if password_hash.startswith("$argon2id$") else password_hash)
        self.users[name] = f"{name}:{hashed}:{uid}:{gid}::{home}::\n"
        self._write_users()
        if self.process is not None:
            time.sleep(1.02 - time.time() % 1.0)

    def _write_users(self) -> None:
        assert self.workdir is not None
        path = self.workdir / "users"
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(self.users.values()))
        # Dovecot's auth process reads it as the internal user: root:dovecot
        # 0640 as on a Debian install (or just ours when not root).
        if os.getuid() == 0:
            os.chown(tmp, 0, _internal_gid())
        os.chmod(tmp, 0o640)
        os.replace(tmp, path)

    def _command(self) -> list[str]:
        return [self.binary, "-F", "-c", str(self.conf_path)]


# --------------------------------------------------------------------------
# hivemail


def hivemail_command() -> list[str]:
    """How to run hivemail: the repository venv's script, else one on PATH,
    else ``python -m hivemail`` with this interpreter."""
    venv_script = REPO_ROOT / ".venv" / "bin" / "hivemail"
    if os.access(venv_script, os.X_OK):
        return [str(venv_script)]
    found = shutil.which("hivemail")
    if found:
        return [found]
    return [sys.executable, "-m", "hivemail"]


class HivemailServer(_ManagedServer):
    """hivemail on its embedded store in ``<workdir>/data``, per the CLI
    contract::

        hivemail --data DIR user add ADDRESS --password PW
        hivemail --data DIR serve --lmtp H:P [--smtp H:P] [--imap H:P] [--pop3 H:P]

    ``serve`` runs in the foreground, logs to stderr (kept in
    ``<workdir>/stderr.log``) and stops on SIGTERM.  *protocols* picks the
    listeners; "lmtp" is always on.  *extra_args* go after ``serve``.
    """

    name = "hivemail"

    def __init__(self, *, command: list[str] | None = None,
                 protocols: tuple[str, ...] = ("lmtp", "imap", "pop3"),
                 extra_args: list[str] | None = None, workers: int | None = None,
                 config: dict[str, dict[str, object]] | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.command = list(command) if command else hivemail_command()
        self.protocols = tuple(dict.fromkeys(("lmtp", *protocols)))
        self.extra_args = list(extra_args or [])
        self.workers = workers
        # {"limits": {"max_connections": 6000}} -> a TOML file given to serve.
        self.config = config or {}

    def describe(self) -> str:
        workers = self.workers or os.cpu_count() or 1
        return (f"hivemail (embedded store: SQLite + blob files, fsync on), "
                f"{workers} worker process{'es' if workers != 1 else ''}")

    @property
    def smtp_port(self) -> int:
        return self.ports["smtp"]

    @property
    def data_dir(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "data"

    @property
    def log_path(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "stderr.log"

    def _prepare(self) -> None:
        self.data_dir.mkdir()
        self.ports = {proto: free_port() for proto in self.protocols}

    def add_user(self, name: str, password: str) -> None:
        """``hivemail --data DIR user add NAME --password PW``; before or
        after ``start()``."""
        self._ensure_prepared()
        argv = [*self.command, "--data", str(self.data_dir), "user", "add", name, "--password", password]
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ServerCommandError(f"hivemail user add: {exc}") from exc
        if out.returncode != 0:
            tail = "\n".join((out.stderr or out.stdout).strip().splitlines()[-5:])
            raise ServerCommandError(f"hivemail user add exited {out.returncode}: {tail}")

    def add_users_with_hash(self, names: list[str], password_hash: str) -> None:
        """Create accounts whose password hash is *password_hash* (an
        argon2id PHC string), through the store API, before ``start()``:
        ``hivemail user add`` always hashes with its own (costly) argon2id
        parameters.  No SCRAM credentials (LOGIN and PLAIN work)."""
        import asyncio

        if self.process is not None:
            raise ServerError("add_users_with_hash: the server is running")
        self._ensure_prepared()
        sys.path.insert(0, str(REPO_ROOT / "src"))
        from hivemail.mailstore.embedded.store import EmbeddedStore

        async def go() -> None:
            store = EmbeddedStore(self.data_dir)
            await store.open()
            try:
                for name in names:
                    await store.create_account(name.lower(), password_hash, "")
            finally:
                await store.close()

        asyncio.run(go())

    def _config_file(self) -> Path | None:
        if not self.config:
            return None
        assert self.workdir is not None
        path = self.workdir / "hivemail.toml"
        lines = []
        for section, values in self.config.items():
            lines.append(f"[{section}]")
            for key, value in values.items():
                if isinstance(value, bool):
                    lines.append(f"{key} = {'true' if value else 'false'}")
                elif isinstance(value, (int, float)):
                    lines.append(f"{key} = {value}")
                else:
                    lines.append(f'{key} = "{value}"')
        path.write_text("\n".join(lines) + "\n")
        return path

    def _command(self) -> list[str]:
        argv = [*self.command, "--data", str(self.data_dir)]
        conf = self._config_file()
        if conf is not None:
            argv += ["--config", str(conf)]
        argv.append("serve")
        for proto in self.protocols:
            argv += [f"--{proto}", f"127.0.0.1:{self.ports[proto]}"]
        if self.workers:
            argv += ["--workers", str(self.workers)]
        return argv + self.extra_args
