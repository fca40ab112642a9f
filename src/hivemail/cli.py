"""The ``hivemail`` command: serve, deliver, and administer accounts.

Exit codes of ``deliver`` follow sysexits.h, which MTAs such as Postfix read
to decide between bouncing and retrying: 0 stored, 67 unknown user, 75
temporary failure (retry), 65 bad input, 73 cannot create (bigger than
limits.max_message_size: permanent).

Over quota, ``deliver`` answers as ``dovecot-lda -e`` does (observed with
Dovecot 2.3): 75 (EX_TEMPFAIL) while the mailbox is full, as Dovecot with
``quota_full_tempfail = yes`` and as our LMTP's 452 4.2.2, so the MTA keeps
the mail until the user makes room; 77 (EX_NOPERM, dovecot-lda's code for
a permanent rejection) when the message alone is larger than the quota
limit and can never fit, as our LMTP's 552 5.2.2.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import os
import re
import secrets
import sys
from pathlib import Path

from hivemail import __version__
from hivemail.auth.passwords import hash_password, make_scram
from hivemail.config import POP3_DELE_ACTIONS, Config, ConfigError, load

EX_OK, EX_USAGE, EX_DATAERR, EX_NOUSER, EX_SOFTWARE, EX_CANTCREAT, EX_TEMPFAIL = 0, 64, 65, 67, 70, 73, 75
EX_NOPERM = 77

DEMO_ACCOUNT = "demo@localhost"
# Per-account settings and the values each may take.
ACCOUNT_SETTINGS = {
    # What POP3 DELE does at QUIT for this account (default: config pop3.dele).
    "pop3_dele": POP3_DELE_ACTIONS,
}
# Unprivileged defaults for `serve` with no listener named: a fresh clone
# must start without root.
DEMO_LISTEN = {
    "imap": "127.0.0.1:1143",
    "imaps": "127.0.0.1:1993",
    "pop3": "127.0.0.1:1110",
    "pop3s": "127.0.0.1:1995",
    "lmtp": "127.0.0.1:2424",
    "smtp": "127.0.0.1:2525",
    "managesieve": "127.0.0.1:4190",
}


def common_options(storage: bool = True) -> argparse.ArgumentParser:
    """The options every command takes, before or after its name."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data", default=argparse.SUPPRESS, help="data directory (default ./hivemail-data)")
    common.add_argument("--config", default=argparse.SUPPRESS, help="TOML configuration file")
    if storage:  # `user quota` has a --storage of its own (a size): there, only before the command
        common.add_argument("--storage", dest="storage_url", metavar="URL", default=argparse.SUPPRESS,
                            help='where mail is stored: a postgresql:// URL, or "" for the embedded '
                                 "store in the data directory (config: storage)")
    return common


def build_parser() -> argparse.ArgumentParser:
    common = common_options()

    p = argparse.ArgumentParser(prog="hivemail", parents=[common], description="hivemail mail server")
    p.add_argument("--version", action="version", version=f"hivemail {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", parents=[common], help="run the server in the foreground")
    for name in DEMO_LISTEN:
        s.add_argument(f"--{name}", metavar="HOST:PORT", help=f"{name.upper()} listener")
    s.add_argument("--tls-cert", metavar="FILE")
    s.add_argument("--tls-key", metavar="FILE")
    s.add_argument("--hostname")
    s.add_argument("--workers", type=int, help="worker processes (default: one per CPU core)")
    s.add_argument("--smarthost", metavar="HOST:PORT", help="relay for Sieve redirects and vacation replies")
    s.add_argument("--demo", action="store_true", help=f"create {DEMO_ACCOUNT} and listen on the default ports")

    u = sub.add_parser("user", parents=[common], help="manage accounts")
    us = u.add_subparsers(dest="action", required=True)
    for action in ("add", "passwd"):
        a = us.add_parser(action, parents=[common])
        a.add_argument("address")
        g = a.add_mutually_exclusive_group()
        g.add_argument("--password")
        g.add_argument("--password-stdin", action="store_true")
    us.add_parser("list", parents=[common])
    d = us.add_parser("del", parents=[common])
    d.add_argument("address")
    st = us.add_parser("set", parents=[common], help="set a per-account setting")
    st.add_argument("address")
    st.add_argument("key", choices=sorted(ACCOUNT_SETTINGS))
    st.add_argument("value")
    qu = us.add_parser("quota", parents=[common_options(storage=False)], help="show or set an account's quota",
                       description="With no limit given, show the limits and the usage. "
                                   "SIZE is a number of bytes with an optional K, M, G or T "
                                   "(1024-based, as Dovecot reads them); 'none' removes a limit.")
    qu.add_argument("address")
    qu.add_argument("--storage", metavar="SIZE", type=parse_limit_size, help="storage limit, e.g. 1G")
    qu.add_argument("--messages", metavar="N", type=parse_limit_count, help="message count limit")
    qu.add_argument("--json", action="store_true")

    al = sub.add_parser("alias", parents=[common], help="manage aliases")
    als = al.add_subparsers(dest="action", required=True)
    a = als.add_parser("add", parents=[common])
    a.add_argument("address")
    a.add_argument("account")

    m = sub.add_parser("mailbox", parents=[common], help="inspect mailboxes")
    ms = m.add_subparsers(dest="action", required=True)
    ml = ms.add_parser("list", parents=[common])
    ml.add_argument("address")
    ml.add_argument("--json", action="store_true")

    dl = sub.add_parser("deliver", parents=[common], help="deliver one message from standard input")
    dl.add_argument("addresses", nargs="+", metavar="ADDRESS")
    dl.add_argument("--from", dest="sender", default="", help="envelope sender (Return-Path)")

    ui = sub.add_parser("uidl", parents=[common], help="POP3 UIDLs kept from another server")
    uis = ui.add_subparsers(dest="action", required=True)
    uim = uis.add_parser("import", parents=[common], help='set explicit UIDLs from FILE: lines "UID UIDL"')
    uim.add_argument("address")
    uim.add_argument("file", help='one "UID UIDL" per line; blank lines and # comments ignored; - for stdin')
    uim.add_argument("--mailbox", default="INBOX")

    sv = sub.add_parser("sieve", parents=[common], help="an account's Sieve scripts")
    svs = sv.add_subparsers(dest="action", required=True)
    sp = svs.add_parser("put", parents=[common], help="upload FILE (- for stdin) as NAME; refused if invalid")
    sp.add_argument("address")
    sp.add_argument("name")
    sp.add_argument("file")
    for action, text in (("get", "print a script"), ("delete", "delete a script (not the active one)")):
        sa = svs.add_parser(action, parents=[common], help=text)
        sa.add_argument("address")
        sa.add_argument("name")
    sl = svs.add_parser("list", parents=[common], help="the scripts, the active one marked")
    sl.add_argument("address")
    sa = svs.add_parser("activate", parents=[common], help="make NAME the active script (none: deactivate)")
    sa.add_argument("address")
    sa.add_argument("name", nargs="?", help="omit to deactivate")

    c = sub.add_parser("check", parents=[common], help="verify (and repair) the store")
    c.add_argument("--repair", action="store_true")

    mg = sub.add_parser("migrate", parents=[common], help="copy a whole store to an empty one of another backend",
                        description="Copy everything (accounts, mailboxes with their UIDs, UIDVALIDITY and "
                                    "MODSEQs, messages, Sieve scripts ...) from SOURCE to TARGET, each a data "
                                    "directory (the embedded store) or a postgresql:// URL. TARGET must be "
                                    "empty; stop every server using SOURCE first. The search index is "
                                    "rebuilt by the target's server.")
    mg.add_argument("--from", dest="source", required=True, metavar="SOURCE", help="data directory or URL")
    mg.add_argument("--to", dest="target", required=True, metavar="TARGET", help="data directory or URL")
    return p


_UNLIMITED = object()  # argparse value of "none": the limit is removed
# 500M, 1G, 1GB, 1GiB, 100B, 4096: K/M/G/T are powers of 1024 (as Dovecot reads them).
_SIZE = re.compile(r"([0-9]+) ?(?:([KMGT])I?B?|B)?", re.IGNORECASE)
_SIZE_UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_limit_size(text: str):
    """``"1G"`` -> 1073741824; ``"none"`` -> no limit."""
    t = text.strip()
    if t.lower() == "none":
        return _UNLIMITED
    m = _SIZE.fullmatch(t)
    if m is None:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (use e.g. 500M, 1G or none)")
    return int(m.group(1)) * _SIZE_UNITS.get((m.group(2) or "").upper(), 1)


def parse_limit_count(text: str):
    t = text.strip()
    if t.lower() == "none":
        return _UNLIMITED
    if not t.isdigit() or not t.isascii():
        raise argparse.ArgumentTypeError(f"not a message count: {text!r} (a number or none)")
    return int(t)


def _kib(octets: int) -> int:
    """Octets in units of 1024, rounded up, as IMAP's STORAGE shows them
    (RFC 9208 5.1) and Dovecot rounds."""
    return -(-octets // 1024)


def quota_report(address: str, quota) -> dict:
    return {
        "account": address,
        "storage": {"used": quota.bytes_used, "limit": quota.bytes_limit},
        "messages": {"used": quota.messages_used, "limit": quota.messages_limit},
    }


def print_quota(report: dict) -> None:
    """Like ``doveadm quota get``: STORAGE in KiB, as IMAP GETQUOTA shows it."""
    rows = []
    for name, key, scale in (("STORAGE", "storage", _kib), ("MESSAGE", "messages", int)):
        used, limit = report[key]["used"], report[key]["limit"]
        percent = "-" if limit is None else str(100 * used // limit if limit else 100)
        rows.append((name, str(scale(used)), "-" if limit is None else str(scale(limit)), percent))
    print(f"{'Type':<8} {'Value':>12} {'Limit':>12} {'%':>4}")
    for name, used, limit, percent in rows:
        print(f"{name:<8} {used:>12} {limit:>12} {percent:>4}")
    print("(STORAGE in KiB; - is unlimited)")


def make_config(args: argparse.Namespace) -> Config:
    config_path = getattr(args, "config", None)
    config = load(config_path)
    data = getattr(args, "data", None)
    if data is not None:
        config = config.with_overrides(data_dir=data)
    storage = getattr(args, "storage_url", None)
    if storage is not None:
        config = config.with_overrides(storage=storage)
    return config


def read_password(args: argparse.Namespace) -> str:
    if args.password is not None:
        return args.password
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if sys.stdin.isatty():
        return getpass.getpass("Password: ")
    return sys.stdin.readline().rstrip("\r\n")


async def with_store(config: Config, fn):
    from hivemail.app import open_store

    store = open_store(config)
    await store.open()
    try:
        return await fn(store)
    finally:
        await store.close()


def run_with_store(config: Config, fn, failure: int = EX_DATAERR) -> int:
    """Run ``fn(store)``; a storage error is printed and gives ``failure``."""
    from hivemail.mailstore import MailError

    try:
        return asyncio.run(with_store(config, fn))
    except MailError as e:
        print(f"hivemail: {e.text}", file=sys.stderr)
        return failure


def cmd_user(config: Config, args: argparse.Namespace) -> int:
    async def go(store) -> int:
        match args.action:
            case "add" | "passwd":
                password = read_password(args)
                if not password:
                    print("hivemail: empty password", file=sys.stderr)
                    return EX_USAGE
                h, scram = await asyncio.to_thread(lambda: (hash_password(password), make_scram(password)))
                if args.action == "add":
                    await store.create_account(args.address.lower(), h, scram)
                else:
                    await store.set_password(args.address.lower(), h, scram)
            case "list":
                for acc in await store.list_accounts():
                    print(acc.name)
            case "del":
                await store.delete_account(args.address.lower())
            case "set":
                allowed = ACCOUNT_SETTINGS[args.key]
                if args.value not in allowed:
                    print(f"hivemail: {args.key} must be one of {', '.join(allowed)}", file=sys.stderr)
                    return EX_USAGE
                await store.set_account_setting(args.address.lower(), args.key, args.value)
            case "quota":
                return await user_quota(store, args)
        return EX_OK

    return run_with_store(config, go)


async def user_quota(store, args: argparse.Namespace) -> int:
    address = args.address.lower()
    quota = await store.get_quota(address)
    if args.storage is None and args.messages is None:
        report = quota_report(address, quota)
        if args.json:
            print(json.dumps(report))
        else:
            print_quota(report)
        return EX_OK

    def value(given, current):
        if given is None:
            return current  # a limit not named stays as it is
        return None if given is _UNLIMITED else given

    await store.set_quota(address, value(args.storage, quota.bytes_limit),
                          value(args.messages, quota.messages_limit))
    if args.json:
        print(json.dumps(quota_report(address, await store.get_quota(address))))
    return EX_OK


def cmd_alias(config: Config, args: argparse.Namespace) -> int:
    async def go(store) -> int:
        await store.add_alias(args.address.lower(), args.account.lower())
        return EX_OK

    return run_with_store(config, go)


def cmd_mailbox(config: Config, args: argparse.Namespace) -> int:
    async def go(store) -> int:
        rows = []
        mailboxes = await store.list_mailboxes(args.address.lower())
        # INBOX and its children first, then by name, as mail clients show them.
        mailboxes.sort(key=lambda mb: (mb.name.split("/")[0] != "INBOX", mb.name))
        for mb in mailboxes:
            st = await store.mailbox_status(args.address.lower(), mb.name)
            rows.append({"name": mb.name, "messages": st.messages, "unseen": st.unseen, "bytes": st.size})
        if args.json:
            print(json.dumps(rows, ensure_ascii=False))
        else:
            width = max([len("mailbox")] + [len(r["name"]) for r in rows])
            print(f"{'mailbox':<{width}}  {'messages':>8}  {'unseen':>8}  {'bytes':>12}")
            for r in rows:
                print(f"{r['name']:<{width}}  {r['messages']:>8}  {r['unseen']:>8}  {r['bytes']:>12}")
        return EX_OK

    return run_with_store(config, go, EX_NOUSER)


def cmd_deliver(config: Config, args: argparse.Namespace) -> int:
    from hivemail.lmtp import delivery
    from hivemail.lmtp.filtering import SieveFilter
    from hivemail.mailstore import AppendResult, ErrorKind, MailError, Recipient

    data = sys.stdin.buffer.read(config.limits.max_message_size + 1)
    if len(data) > config.limits.max_message_size:
        print("hivemail: message too big", file=sys.stderr)
        return EX_CANTCREAT

    async def go(store) -> int:
        resolved = [await delivery.resolve(store, config, a) for a in args.addresses]
        unknown = [r.address for r in resolved if r.account is None]
        if unknown:
            print(f"hivemail: unknown user: {', '.join(unknown)}", file=sys.stderr)
            return EX_NOUSER
        trace = delivery.trace_headers(
            config,
            mail_from=args.sender,
            helo="",
            peer_ip="",
            protocol="local",
            recipients=[r.address for r in resolved],
            session_id=delivery.new_session_id(),
        )
        # Sieve runs here too; redirects and vacation replies wait in
        # DATA_DIR/queue for the runner of `serve`.
        sieve = SieveFilter.for_data_dir(store, config.data_dir, config.hostname)
        results = await delivery.deliver(store, None, trace + data, [Recipient(r.account or "") for r in resolved],
                                         sieve=sieve, mail_from=args.sender,
                                         rcpt_addresses=[r.address for r in resolved])
        worst = EX_OK
        for r, res in zip(resolved, results):
            if isinstance(res, (AppendResult, delivery.NotStored)):
                continue
            if isinstance(res, delivery.Refused):
                # Sieve reject/ereject: as `dovecot-lda -e`, the reason on
                # stderr and 77 (EX_NOPERM), so the MTA bounces with it
                # (dovecot-lda without -e sends a rejection mail itself).
                print(f"hivemail: {r.address}: {res.reason}", file=sys.stderr)
                worst = max(worst, EX_NOPERM)
                continue
            assert isinstance(res, MailError)
            print(f"hivemail: {r.address}: {res.text}", file=sys.stderr)
            code = {ErrorKind.NOT_FOUND: EX_NOUSER, ErrorKind.TOO_BIG: EX_CANTCREAT,
                    ErrorKind.NO_QUOTA: EX_TEMPFAIL, ErrorKind.QUOTA_TOO_BIG: EX_NOPERM}
            worst = max(worst, code.get(res.kind, EX_TEMPFAIL))
        return worst

    try:
        return asyncio.run(with_store(config, go))
    except Exception as e:  # anything unexpected: ask the MTA to retry, never lose mail
        print(f"hivemail: delivery failed: {e}", file=sys.stderr)
        return EX_TEMPFAIL


def parse_uidl_lines(lines) -> dict[int, str]:
    """``"UID UIDL"`` lines -> {uid: uidl}; raises ValueError naming the bad line."""
    mapping: dict[int, str] = {}
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit() or int(parts[0]) < 1:
            raise ValueError(f"line {number}: expected \"UID UIDL\", got {line!r}")
        if int(parts[0]) in mapping:
            raise ValueError(f"line {number}: UID {parts[0]} given twice")
        mapping[int(parts[0])] = parts[1]
    return mapping


def cmd_uidl(config: Config, args: argparse.Namespace) -> int:
    try:
        if args.file == "-":
            mapping = parse_uidl_lines(sys.stdin.read().splitlines())
        else:
            with open(args.file, encoding="utf-8") as f:
                mapping = parse_uidl_lines(f)
    except (OSError, ValueError, UnicodeDecodeError) as e:
        print(f"hivemail: {args.file}: {e}", file=sys.stderr)
        return EX_DATAERR

    async def go(store) -> int:
        box = await store.get_mailbox(args.address.lower(), args.mailbox)
        changed = await store.set_explicit_uidls(box.id, mapping)
        print(f"{changed} of {len(mapping)} UIDLs set")
        return EX_OK

    return run_with_store(config, go)


def cmd_sieve(config: Config, args: argparse.Namespace) -> int:
    """``hivemail sieve put|get|list|activate|delete``: what ManageSieve
    offers a mail client, for the administrator. A script is parsed before
    it is stored; an error names its line and column (exit 65)."""
    from hivemail.managesieve_proto.commands import check_script_name
    from hivemail.managesieve_proto.tokens import ParseError
    from hivemail.sieve import SieveError, parse

    if getattr(args, "name", None) is not None:
        try:
            check_script_name(args.name.encode("utf-8", "surrogateescape"))  # RFC 5804 1.6, as ManageSieve
        except ParseError as e:
            print(f"hivemail: {e}", file=sys.stderr)
            return EX_USAGE
    script = None
    if args.action == "put":
        try:
            # As uploaded, line ends included (no universal-newline reading).
            raw = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
            script = raw.decode("utf-8")
        except (OSError, UnicodeDecodeError) as e:
            print(f"hivemail: {args.file}: {e}", file=sys.stderr)
            return EX_DATAERR
        try:
            parse(script)
        except SieveError as e:
            print(f"hivemail: {args.file}: {e}", file=sys.stderr)
            return EX_DATAERR

    async def go(store) -> int:
        account = args.address.lower()
        match args.action:
            case "put":
                await store.sieve_put(account, args.name, script)
            case "get":
                sys.stdout.write(await store.sieve_get(account, args.name))
            case "list":
                for name, active in await store.sieve_list(account):
                    print(f"{name}{' (active)' if active else ''}")
            case "activate":
                await store.sieve_activate(account, args.name)
            case "delete":
                await store.sieve_delete(account, args.name)
        return EX_OK

    return run_with_store(config, go)


def cmd_check(config: Config, args: argparse.Namespace) -> int:
    async def go(store) -> int:
        report = await store.check(repair=args.repair)
        for p in report.problems:
            print(f"problem: {p}")
        for r in report.repaired:
            print(f"repaired: {r}")
        if report.clean and not report.repaired:
            print("store is clean")
        return EX_OK if report.clean or args.repair else 1

    return asyncio.run(with_store(config, go))


def cmd_migrate(config: Config, args: argparse.Namespace) -> int:
    from hivemail.mailstore.migrate import MigrationError, migrate

    try:
        summary = asyncio.run(migrate(args.source, args.target, blob_dir=config.postgresql.blob_dir or None))
    except MigrationError as e:
        print(f"hivemail: migrate: {e}", file=sys.stderr)
        return EX_DATAERR
    print(summary)
    return EX_OK


def ensure_demo(config: Config) -> str:
    """Create the demo account once; its password is kept in the data
    directory so that every `make run` can print it."""
    from hivemail.mailstore import ErrorKind, MailError

    pw_file = Path(config.data_dir) / "demo-password"

    async def go(store) -> str:
        if await store.get_account(DEMO_ACCOUNT) is not None and pw_file.exists():
            return pw_file.read_text().strip()
        password = secrets.token_urlsafe(12)
        h, scram = hash_password(password), make_scram(password)
        try:
            await store.create_account(DEMO_ACCOUNT, h, scram)
        except MailError as e:
            if e.kind is not ErrorKind.EXISTS:
                raise
            await store.set_password(DEMO_ACCOUNT, h, scram)
        pw_file.write_text(password + "\n")
        os.chmod(pw_file, 0o600)
        return password

    Path(config.data_dir).mkdir(parents=True, exist_ok=True)
    return asyncio.run(with_store(config, go))


def cmd_serve(config: Config, args: argparse.Namespace) -> int:
    from hivemail import app

    overrides = {f"listen.{n}": getattr(args, n) for n in DEMO_LISTEN if getattr(args, n)}
    if args.tls_cert:
        overrides["tls.cert"] = args.tls_cert
    if args.tls_key:
        overrides["tls.key"] = args.tls_key
    if args.hostname:
        overrides["hostname"] = args.hostname
    if args.workers is not None:
        overrides["workers"] = args.workers
    if args.smarthost:
        from hivemail.outbound import parse_smarthost

        try:
            parse_smarthost(args.smarthost)  # a typo fails now, not at the first redirect
        except ValueError as e:
            print(f"hivemail: --smarthost: {e}", file=sys.stderr)
            return EX_USAGE
        overrides["outbound.smarthost"] = args.smarthost
    if args.demo:
        for n, addr in DEMO_LISTEN.items():
            overrides.setdefault(f"listen.{n}", addr)
    config = config.with_overrides(**overrides)
    if bool(config.tls.cert) != bool(config.tls.key):
        print("hivemail: --tls-cert and --tls-key go together", file=sys.stderr)
        return EX_USAGE
    Path(config.data_dir).mkdir(parents=True, exist_ok=True)
    password = ensure_demo(config) if args.demo else None

    def ready(listeners) -> None:
        if password is None:
            return
        print("\nhivemail is running. Connect with:", file=sys.stderr)
        print(f"  account   {DEMO_ACCOUNT}", file=sys.stderr)
        print(f"  password  {password}", file=sys.stderr)
        for lst in listeners:
            print(f"  {lst.name:<9} {lst.host}:{lst.port}", file=sys.stderr)
        print(
            "  try       python3 -c \"import smtplib; s=smtplib.LMTP('127.0.0.1', "
            f"{DEMO_LISTEN['lmtp'].rsplit(':', 1)[1]}); s.sendmail('me@example.com', '{DEMO_ACCOUNT}', "
            "'Subject: hi\\r\\n\\r\\nhello\\r\\n')\"",
            file=sys.stderr,
        )
        from hivemail.mailstore.migrate import shown

        storage = f" --storage {shown(config.storage)}" if config.storage else ""
        print(f"  then      hivemail --data {config.data_dir}{storage} mailbox list {DEMO_ACCOUNT}", file=sys.stderr)
        print("Stop with Ctrl-C.\n", file=sys.stderr)

    app.run(config, ready)
    return EX_OK


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = make_config(args)
    except ConfigError as e:
        print(f"hivemail: {e}", file=sys.stderr)
        return EX_USAGE
    logging.basicConfig(
        level=getattr(logging, config.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s",
        stream=sys.stderr,
    )
    commands = {
        "serve": cmd_serve,
        "user": cmd_user,
        "alias": cmd_alias,
        "mailbox": cmd_mailbox,
        "deliver": cmd_deliver,
        "check": cmd_check,
        "uidl": cmd_uidl,
        "sieve": cmd_sieve,
        "migrate": cmd_migrate,
    }
    return commands[args.command](config, args)
