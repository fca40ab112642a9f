"""Evaluating a validated script against one message: pure, bounded, never raising.

RFC 5228 section 2.10 is the model: actions are collected while the script
runs and carried out by the caller afterwards, and an error at run time means
the implicit keep and nothing else (section 2.10.6).  Every command, test,
comparison and string expansion costs steps; the step budget, a wall-clock
budget and the action/redirect/variable limits of ``Limits`` turn a runaway
script into that same implicit keep, so a filter never loses mail.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import re
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

from . import comparators as cmp
from .actions import (
    Action,
    AddHeader,
    DeleteHeader,
    Discard,
    Ereject,
    FileInto,
    HeaderEdit,
    Keep,
    Outcome,
    Redirect,
    Reject,
    Vacation,
)
from .errors import SieveRuntimeError
from .message import Envelope, SieveMessage
from .nodes import Command, Number, Script, StringList, Test
from .vacation import vacation_allowed


@dataclass(frozen=True)
class Limits:
    """Every bound on a script, as data (DESIGN.md principle 7).

    The defaults follow Pigeonhole's (Dovecot) order of magnitude: 64 KiB
    scripts, 32 levels of nesting, 32 actions, 4 redirects.  RFC 5229
    section 6 asks variables to hold at least 4000 characters; longer values
    are truncated, as it allows.
    """

    max_script_size: int = 64 * 1024
    max_nesting: int = 32
    max_actions: int = 32
    max_redirects: int = 4
    max_header_edits: int = 64
    max_steps: int = 100_000
    max_seconds: float = 2.0
    max_variables: int = 128
    max_variable_size: int = 4096
    max_string_size: int = 64 * 1024
    vacation_default_days: int = 7
    vacation_min_seconds: int = 86400
    vacation_max_seconds: int = 90 * 86400


@dataclass(frozen=True)
class Context:
    """What the caller knows beyond the message.

    ``now``: the clock for ``currentdate`` and the local zone for ``date``
    (RFC 5260 section 4: with no ``:zone``, local time).  ``mailbox_exists``:
    for ``mailboxexists`` and for refusing ``fileinto`` to a missing mailbox
    without ``:create`` (an error, hence implicit keep); None means "unknown",
    then ``mailboxexists`` is false and ``fileinto`` is trusted.
    ``own_addresses``: the user's addresses, for vacation (RFC 5230 4.5).
    """

    now: dt.datetime = field(default_factory=lambda: dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc))
    mailbox_exists: Callable[[str], bool] | None = None
    own_addresses: tuple[str, ...] = ()


class _Stop(Exception):
    """The ``stop`` command (RFC 5228 section 3.3)."""


# RFC 5229 section 3:
# variable-ref = "${" [namespace] variable-name "}"
# variable-name = num-variable / identifier
_VARIABLE_REF = re.compile(r"\$\{([0-9]+|[A-Za-z_][A-Za-z0-9_]*)\}")
# RFC 5322 section 3.6.8: field-name = 1*ftext; ftext = %d33-57 / %d59-126
_FIELD_NAME = re.compile(r"[\x21-\x39\x3b-\x7e]+\Z")
# RFC 5293 section 6: these "MUST NOT" be deleted; we refuse additions too.
_PROTECTED_FIELDS = frozenset({"received", "auto-submitted"})
_ADDRESS_TESTS = ("address", "envelope")


def evaluate(
    script: Script,
    message: SieveMessage,
    envelope: Envelope,
    *,
    limits: Limits = Limits(),
    context: Context = Context(),
) -> Outcome:
    """Run ``script`` for one delivery; always returns an Outcome (see its docstring)."""
    run = _Run(script, message, envelope, limits, context)
    try:
        try:
            run.block(script.commands)
        except _Stop:
            pass
        return run.outcome()
    except SieveRuntimeError as err:
        return _failed(message, err.describe())
    except Exception as err:  # noqa: BLE001 - a bug here must not lose mail; tests assert it never happens
        return _failed(message, f"internal error: {type(err).__name__}: {err}")


def _failed(message: SieveMessage, error: str) -> Outcome:
    return Outcome(actions=(Keep(implicit=True),), implicit_keep=True, errors=(error,), headers=message.headers)


class _Run:
    def __init__(self, script: Script, message: SieveMessage, envelope: Envelope, limits: Limits, context: Context):
        self.script = script
        self.message = message
        self.envelope = envelope
        self.limits = limits
        self.context = context
        self.expanding = "variables" in script.extensions
        self.actions: list[Action] = []
        self.implicit_keep = True
        self.flags: list[str] = []  # the internal variable of RFC 5232 section 3
        self.variables: dict[str, str] = {}
        self.match_values: list[str] = []
        self.headers: list[tuple[str, str]] = list(message.headers)
        self.header_edits: list[HeaderEdit] = []
        self.redirects = 0
        self.steps = 0
        self.deadline = time.monotonic() + limits.max_seconds
        self.node: Command | Test | None = None

    # -- bookkeeping -------------------------------------------------------

    def step(self, cost: int = 1) -> None:
        before = self.steps
        self.steps += cost
        if self.steps > self.limits.max_steps:
            raise self.error(f"more than {self.limits.max_steps} steps")
        if before >> 10 != self.steps >> 10 and time.monotonic() > self.deadline:
            raise self.error(f"more than {self.limits.max_seconds} seconds")

    def error(self, message: str) -> SieveRuntimeError:
        node = self.node
        return SieveRuntimeError(message, node.line if node else 0, node.column if node else 0)

    def outcome(self) -> Outcome:
        actions = list(self.actions)
        if self.implicit_keep:
            actions.append(Keep(tuple(self.flags), implicit=True))
        return Outcome(
            actions=tuple(actions),
            implicit_keep=self.implicit_keep,
            header_edits=tuple(self.header_edits),
            headers=tuple(self.headers),
            variables=tuple(sorted(self.variables.items())),
        )

    # -- strings -----------------------------------------------------------

    def expand(self, value: str) -> str:
        """RFC 5229 section 3: substitute ``${name}`` and ``${N}``; unknown names are ""."""
        self.step(1 + len(value) // 256)
        if not self.expanding or "${" not in value:
            return value

        def replace(m: re.Match[str]) -> str:
            name = m.group(1)
            if name[0].isdigit():
                index = int(name) if len(name) < 6 else -1
                return self.match_values[index] if 0 <= index < len(self.match_values) else ""
            return self.variables.get(name.lower(), "")

        result = _VARIABLE_REF.sub(replace, value)
        if len(result) > self.limits.max_string_size:
            raise self.error(f"a string grew past {self.limits.max_string_size} characters")
        return result

    def strings(self, arg: StringList | Number | None) -> list[str]:
        assert isinstance(arg, StringList)
        return [self.expand(v) for v in arg.values]

    def string(self, arg: StringList | Number | None) -> str:
        return self.strings(arg)[0]

    def tag_string(self, node: Command | Test, name: str) -> str | None:
        value = node.tag_value(name)
        return self.expand(value.values[0]) if isinstance(value, StringList) else None

    # -- commands ----------------------------------------------------------

    def block(self, commands: Iterable[Command]) -> None:
        taken = False  # whether the current if/elsif/else chain already ran a branch
        for cmd in commands:
            self.node = cmd
            self.step()
            if cmd.name == "if":
                taken = self.test(cmd.tests[0])
                if taken:
                    self.block(cmd.block or ())
            elif cmd.name == "elsif":
                if not taken and self.test(cmd.tests[0]):
                    taken = True
                    self.block(cmd.block or ())
            elif cmd.name == "else":
                if not taken:
                    self.block(cmd.block or ())
            else:
                _COMMANDS[cmd.name](self, cmd)

    def add(self, action: Action) -> None:
        if action in self.actions:
            return  # RFC 5228 section 2.10.3: duplicates are carried out once
        if len(self.actions) >= self.limits.max_actions:
            raise self.error(f"more than {self.limits.max_actions} actions")
        rejecting = any(isinstance(a, (Reject, Ereject)) for a in self.actions + [action])
        delivering = any(isinstance(a, (Keep, FileInto, Redirect, Vacation)) for a in self.actions + [action])
        if rejecting and delivering:
            # RFC 5429 section 2.3: reject MUST NOT go with vacation and is
            # NOT RECOMMENDED with delivery; we refuse both, so the error path
            # delivers the message rather than bouncing and keeping it.
            raise self.error("reject/ereject cannot be combined with keep, fileinto, redirect or vacation")
        if sum(isinstance(a, (Reject, Ereject)) for a in self.actions + [action]) > 1:
            raise self.error("only one reject or ereject per script")
        self.actions.append(action)

    def c_require(self, cmd: Command) -> None:
        pass  # checked when the script was parsed

    def c_stop(self, cmd: Command) -> None:
        raise _Stop

    def flag_list(self, values: list[str]) -> list[str]:
        # RFC 5232 section 3: flags are space-separated; duplicates collapse
        # case-insensitively, keeping the first spelling.
        out: list[str] = []
        seen: set[str] = set()
        for value in values:
            for flag in value.split():
                if flag.lower() not in seen:
                    seen.add(flag.lower())
                    out.append(flag)
        return out

    def action_flags(self, cmd: Command) -> tuple[str, ...]:
        explicit = cmd.tag_value("flags")
        if isinstance(explicit, StringList):
            return tuple(self.flag_list(self.strings(explicit)))
        return tuple(self.flags)

    def c_keep(self, cmd: Command) -> None:
        self.add(Keep(self.action_flags(cmd)))
        self.implicit_keep = False

    def c_discard(self, cmd: Command) -> None:
        self.add(Discard())
        self.implicit_keep = False

    def c_redirect(self, cmd: Command) -> None:
        address = self.string(cmd.positional[0]).strip()
        if "@" not in address or any(c.isspace() for c in address) or address.startswith("@"):
            raise self.error(f"redirect to an invalid address {address!r}")
        action = Redirect(address, copy=cmd.tag("copy"))
        if action not in self.actions:
            self.redirects += 1
            if self.redirects > self.limits.max_redirects:
                raise self.error(f"more than {self.limits.max_redirects} redirects")
        self.add(action)
        if not cmd.tag("copy"):
            self.implicit_keep = False

    def c_fileinto(self, cmd: Command) -> None:
        mailbox = self.string(cmd.positional[0])
        if not mailbox:
            raise self.error("fileinto an empty mailbox name")
        create = cmd.tag("create")
        exists = self.context.mailbox_exists
        if not create and exists is not None and not exists(mailbox):
            raise self.error(f"mailbox {mailbox!r} does not exist")
        self.add(FileInto(mailbox, self.action_flags(cmd), create=create, copy=cmd.tag("copy")))
        if not cmd.tag("copy"):
            self.implicit_keep = False

    def flag_target(self, cmd: Command) -> tuple[Callable[[], list[str]], Callable[[list[str]], None]]:
        name_arg = cmd.positional[0]
        if isinstance(name_arg, StringList):
            name = name_arg.values[0].lower()
            return (
                lambda: self.flag_list([self.variables.get(name, "")]),
                lambda flags: self.set_variable(name, " ".join(flags)),
            )

        def store(flags: list[str]) -> None:
            self.flags = flags

        return (lambda: list(self.flags), store)

    def c_setflag(self, cmd: Command) -> None:
        _, store = self.flag_target(cmd)
        store(self.flag_list(self.strings(cmd.positional[1])))

    def c_addflag(self, cmd: Command) -> None:
        load, store = self.flag_target(cmd)
        store(self.flag_list([" ".join(load())] + self.strings(cmd.positional[1])))

    def c_removeflag(self, cmd: Command) -> None:
        load, store = self.flag_target(cmd)
        gone = {f.lower() for f in self.flag_list(self.strings(cmd.positional[1]))}
        store([f for f in load() if f.lower() not in gone])

    def set_variable(self, name: str, value: str) -> None:
        if name not in self.variables and len(self.variables) >= self.limits.max_variables:
            raise self.error(f"more than {self.limits.max_variables} variables")
        self.variables[name] = value[: self.limits.max_variable_size]

    def c_set(self, cmd: Command) -> None:
        # RFC 5229 section 4.1: modifiers apply by precedence, highest first:
        # :lower/:upper (40), :lowerfirst/:upperfirst (30), :quotewildcard (20), :length (10).
        name = cmd.positional[0].values[0].lower()  # type: ignore[union-attr]
        value = self.string(cmd.positional[1])
        if cmd.tag("lower"):
            value = value.lower()
        if cmd.tag("upper"):
            value = value.upper()
        if cmd.tag("lowerfirst"):
            value = value[:1].lower() + value[1:]
        if cmd.tag("upperfirst"):
            value = value[:1].upper() + value[1:]
        if cmd.tag("quotewildcard"):
            value = re.sub(r"([*?\\])", r"\\\1", value)
        if cmd.tag("length"):
            value = str(len(value))
        self.set_variable(name, value)

    def c_vacation(self, cmd: Command) -> None:
        reason = self.string(cmd.positional[0])
        subject_arg = self.tag_string(cmd, "subject")
        from_arg = self.tag_string(cmd, "from")
        addresses_arg = cmd.tag_value("addresses")
        addresses = tuple(self.strings(addresses_arg)) if isinstance(addresses_arg, StringList) else ()
        handle = self.tag_string(cmd, "handle")
        if handle is None:
            # Section 4.2: without :handle, identical vacation commands share one
            # memory; hash what makes the reply what it is.
            basis = "\0".join([reason, subject_arg or "", from_arg or "", "mime" if cmd.tag("mime") else ""])
            handle = hashlib.sha256(basis.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        limits = self.limits
        days, seconds = cmd.tag_value("days"), cmd.tag_value("seconds")
        if isinstance(seconds, Number):
            period = min(seconds.value, limits.vacation_max_seconds)  # RFC 6131: 0 is allowed
        else:
            period = (days.value if isinstance(days, Number) else limits.vacation_default_days) * 86400
            period = max(limits.vacation_min_seconds, min(period, limits.vacation_max_seconds))
        if subject_arg is None:
            # Section 4.3: "Auto:" and the original subject.
            original = next(iter(self.header_values("subject")), "")
            subject = f"Auto: {original}" if original else "Automated reply"
        else:
            subject = subject_arg
        self.add(
            Vacation(
                to=self.envelope.mail_from,
                own_address=self.envelope.rcpt_to,
                reason=reason,
                subject=subject.replace("\r", " ").replace("\n", " "),
                from_=from_arg,
                addresses=addresses,
                mime=cmd.tag("mime"),
                handle=handle,
                seconds=period,
            )
        )
        own = (self.envelope.rcpt_to,) + addresses + self.context.own_addresses
        if not vacation_allowed(self.message, self.envelope, own):
            # Sections 4.5 and 4.6: the command counts as done, but sends nothing.
            self.actions.pop()

    def c_reject(self, cmd: Command) -> None:
        self.add(Reject(self.string(cmd.positional[0])))
        self.implicit_keep = False

    def c_ereject(self, cmd: Command) -> None:
        self.add(Ereject(self.string(cmd.positional[0])))
        self.implicit_keep = False

    def edit_allowed(self, name: str) -> bool:
        if not _FIELD_NAME.match(name):
            raise self.error(f"{name!r} is not a header field name")
        if len(self.header_edits) >= self.limits.max_header_edits:
            raise self.error(f"more than {self.limits.max_header_edits} header edits")
        # RFC 5293 section 6: a change that is not permitted "MUST be silently ignored".
        return name.lower() not in _PROTECTED_FIELDS

    def c_addheader(self, cmd: Command) -> None:
        name = self.string(cmd.positional[0])
        value = re.sub(r"[\r\n]+[ \t]*", " ", self.string(cmd.positional[1]))
        if not self.edit_allowed(name):
            return
        last = cmd.tag("last")
        if last:
            self.headers.append((name, value))
        else:
            self.headers.insert(0, (name, value))
        self.header_edits.append(AddHeader(name, value, last))

    def c_deleteheader(self, cmd: Command) -> None:
        name = self.string(cmd.positional[0])
        if not self.edit_allowed(name):
            return
        lname = name.lower()
        positions = [i for i, (n, _) in enumerate(self.headers) if n.lower() == lname]
        chosen = list(range(1, len(positions) + 1))
        index = cmd.tag_value("index")
        if isinstance(index, Number):
            n = index.value if not cmd.tag("last") else len(positions) - index.value + 1
            chosen = [n] if 1 <= n <= len(positions) else []
        patterns = cmd.positional[1]
        if isinstance(patterns, StringList):
            keys = self.strings(patterns)
            chosen = [n for n in chosen if self.match(cmd, [self.headers[positions[n - 1]][1]], keys, set_vars=False)]
        if not chosen:
            return
        doomed = {positions[n - 1] for n in chosen}
        self.headers = [h for i, h in enumerate(self.headers) if i not in doomed]
        self.header_edits.append(DeleteHeader(name, tuple(chosen)))

    # -- tests -------------------------------------------------------------

    def test(self, test: Test) -> bool:
        self.node = test
        self.step()
        result = _TESTS[test.name](self, test)
        return result

    def t_true(self, test: Test) -> bool:
        return True

    def t_false(self, test: Test) -> bool:
        return False

    def t_not(self, test: Test) -> bool:
        return not self.test(test.tests[0])

    def t_allof(self, test: Test) -> bool:
        return all(self.test(t) for t in test.tests)  # short-circuits, as section 5.2 requires

    def t_anyof(self, test: Test) -> bool:
        return any(self.test(t) for t in test.tests)

    def t_size(self, test: Test) -> bool:
        over = test.tag_value("over")
        if isinstance(over, Number):
            return self.message.size > over.value
        under = test.tag_value("under")
        return isinstance(under, Number) and self.message.size < under.value

    def header_values(self, name: str) -> list[str]:
        lname = name.lower()
        return [v for n, v in self.headers if n.lower() == lname]

    def indexed_values(self, test: Test, name: str) -> list[str]:
        values = self.header_values(name)
        index = test.tag_value("index")
        if isinstance(index, Number):
            n = len(values) - index.value if test.tag("last") else index.value - 1
            return [values[n]] if 0 <= n < len(values) else []
        return values

    def t_exists(self, test: Test) -> bool:
        return all(self.header_values(name) for name in self.strings(test.positional[0]))

    def t_header(self, test: Test) -> bool:
        values = [v for name in self.strings(test.positional[0]) for v in self.indexed_values(test, name)]
        return self.match(test, values, self.strings(test.positional[1]))

    def t_address(self, test: Test) -> bool:
        values: list[str] = []
        for name in self.strings(test.positional[0]):
            raw = self.indexed_values(test, name)
            for _, addr in email.utils.getaddresses(raw):
                if addr:
                    part = self.address_part(test, addr)
                    if part is not None:
                        values.append(part)
        return self.match(test, values, self.strings(test.positional[1]))

    def t_envelope(self, test: Test) -> bool:
        values: list[str] = []
        for name in self.strings(test.positional[0]):
            lname = name.lower()
            if lname == "from":
                addr = self.envelope.mail_from.strip().strip("<>")
                if not addr:
                    # Section 5.4: the null reverse-path is the empty string,
                    # whatever the ADDRESS-PART.
                    values.append("")
                    continue
            elif lname == "to":
                addr = self.envelope.rcpt_to.strip().strip("<>")
            elif lname == "auth":
                addr = self.envelope.auth
            else:
                continue
            if addr:
                part = self.address_part(test, addr)
                if part is not None:
                    values.append(part)
        return self.match(test, values, self.strings(test.positional[1]))

    def address_part(self, test: Test, addr: str) -> str | None:
        # Section 2.7.4 and RFC 5233 section 4 (separator "+").
        local, at, domain = addr.rpartition("@")
        if not at:
            local, domain = addr, ""
        if test.tag("localpart"):
            return local
        if test.tag("domain"):
            return domain
        if test.tag("user"):
            return local.split("+", 1)[0]
        if test.tag("detail"):
            user, plus, detail = local.partition("+")
            return detail if plus else None  # no separator: the test fails (RFC 5233 section 4)
        return addr

    def t_body(self, test: Test) -> bool:
        # RFC 5173 section 5: :raw is the undecoded body; :content the decoded
        # leaf parts of the listed types ("" is all, "text" a whole type);
        # :text (the default) the text/* parts.
        message = self.message
        if test.tag("raw"):
            values = [message.raw_body]
        else:
            content = test.tag_value("content")
            types = [t.lower().strip() for t in self.strings(content)] if isinstance(content, StringList) else ["text"]
            values = [p.text for p in message.parts if any(_type_matches(t, p.content_type) for t in types)]
        return self.match(test, values, self.strings(test.positional[0]))

    def t_string(self, test: Test) -> bool:
        # RFC 5229 section 5: for :count, the empty string counts as no value.
        sources = self.strings(test.positional[0])
        if test.tag("count"):
            sources = [s for s in sources if s]
        return self.match(test, sources, self.strings(test.positional[1]))

    def t_hasflag(self, test: Test) -> bool:
        names = test.positional[0]
        if isinstance(names, StringList):
            flags = self.flag_list([self.variables.get(n.lower(), "") for n in names.values])
        else:
            flags = list(self.flags)
        # Section 4: keys are flag lists too ("hasflag :is "b A"" tests both).
        keys = self.strings(test.positional[1])
        if not test.tag("count") and not test.tag("value"):
            keys = self.flag_list(keys)
        return self.match(test, flags, keys)

    def t_mailboxexists(self, test: Test) -> bool:
        exists = self.context.mailbox_exists
        names = self.strings(test.positional[0])
        return exists is not None and all(exists(n) for n in names)

    def t_date(self, test: Test) -> bool:
        header, part = self.string(test.positional[0]), self.string(test.positional[1]).lower()
        values = []
        for raw in self.indexed_values(test, header):
            when = _parse_date(raw)
            if when is None:
                continue  # RFC 5260 section 4: an unparsable date does not match
            try:
                if not test.tag("originalzone"):
                    when = when.astimezone(self.zone(test))
                values.append(date_part(when, part))
            except (OverflowError, ValueError):
                continue  # a date the zone shift pushes out of range cannot match
        return self.match(test, values, self.strings(test.positional[2]))

    def t_currentdate(self, test: Test) -> bool:
        part = self.string(test.positional[0]).lower()
        now = self.context.now
        if now.tzinfo is None:
            now = now.replace(tzinfo=dt.timezone.utc)
        value = date_part(now.astimezone(self.zone(test)), part)
        return self.match(test, [value], self.strings(test.positional[1]))

    def zone(self, test: Test) -> dt.tzinfo:
        spec = self.tag_string(test, "zone")
        if spec is None:
            return self.context.now.tzinfo or dt.timezone.utc
        if not re.fullmatch(r"[+-][0-9]{4}", spec):
            raise self.error(f"invalid zone {spec!r}")
        minutes = int(spec[1:3]) * 60 + int(spec[3:5])
        return dt.timezone(dt.timedelta(minutes=-minutes if spec[0] == "-" else minutes))

    def match(self, node: Command | Test, values: list[str], keys: list[str], set_vars: bool = True) -> bool:
        """The match-type core of section 2.7: true if any value matches any key."""
        name = node.tag_value("comparator")
        comp = cmp.COMPARATORS[name.values[0]] if isinstance(name, StringList) else cmp.DEFAULT_COMPARATOR
        count = node.tag_value("count")
        if isinstance(count, StringList):
            # RFC 5231 section 4.2: compare the number of values against each key.
            n = str(len(values))
            op = count.values[0]
            return any(cmp.relational(comp, op, n, key) for key in keys)
        relation = node.tag_value("value")
        for value in values:
            for key in keys:
                self.step(1 + len(value) // 256)
                if isinstance(relation, StringList):
                    if cmp.relational(comp, relation.values[0], value, key):
                        return True
                elif node.tag("contains"):
                    if cmp.contains(comp, value, key):
                        return True
                elif node.tag("matches"):
                    if "?" in key:
                        self.step(len(value) * len(key) // 64)
                    found = cmp.matches(comp, value, key)
                    if found is not None:
                        if set_vars:
                            # RFC 5229 section 3.2: only a successful :matches sets them.
                            self.match_values = [v[: self.limits.max_variable_size] for v in found]
                        return True
                elif cmp.is_match(comp, value, key):
                    return True
        return False


def _type_matches(wanted: str, content_type: str) -> bool:
    if not wanted:
        return True
    if "/" in wanted:
        return wanted == content_type
    return content_type.split("/", 1)[0] == wanted


def _parse_date(value: str) -> dt.datetime | None:
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:  # "-0000": UTC with no claim about local time (RFC 5322 3.3)
        when = when.replace(tzinfo=dt.timezone.utc)
    return when


def date_part(when: dt.datetime, part: str) -> str:
    """RFC 5260 section 4: the text of one date-part of an aware datetime."""
    offset = when.utcoffset() or dt.timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    zone = f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"
    if part == "year":
        return f"{when.year:04d}"
    if part == "month":
        return f"{when.month:02d}"
    if part == "day":
        return f"{when.day:02d}"
    if part == "date":
        return f"{when.year:04d}-{when.month:02d}-{when.day:02d}"
    if part == "julian":
        # Modified Julian Day: days since 1858-11-17.
        return str((when.date() - dt.date(1858, 11, 17)).days)
    if part == "hour":
        return f"{when.hour:02d}"
    if part == "minute":
        return f"{when.minute:02d}"
    if part == "second":
        return f"{when.second:02d}"
    if part == "time":
        return f"{when.hour:02d}:{when.minute:02d}:{when.second:02d}"
    if part == "iso8601":
        return when.replace(microsecond=0).isoformat()
    if part == "std11":
        return email.utils.format_datetime(when.replace(microsecond=0))
    if part == "zone":
        return zone
    if part == "weekday":
        return str(when.isoweekday() % 7)  # 0 is Sunday
    raise SieveRuntimeError(f"unknown date-part {part!r}")


# Dispatch tables (STYLE.md item 10): the name in the script -> the method.
_COMMANDS: dict[str, Callable[[_Run, Command], None]] = {
    "require": _Run.c_require,
    "stop": _Run.c_stop,
    "keep": _Run.c_keep,
    "discard": _Run.c_discard,
    "redirect": _Run.c_redirect,
    "fileinto": _Run.c_fileinto,
    "setflag": _Run.c_setflag,
    "addflag": _Run.c_addflag,
    "removeflag": _Run.c_removeflag,
    "set": _Run.c_set,
    "vacation": _Run.c_vacation,
    "reject": _Run.c_reject,
    "ereject": _Run.c_ereject,
    "addheader": _Run.c_addheader,
    "deleteheader": _Run.c_deleteheader,
}
_TESTS: dict[str, Callable[[_Run, Test], bool]] = {
    "true": _Run.t_true,
    "false": _Run.t_false,
    "not": _Run.t_not,
    "allof": _Run.t_allof,
    "anyof": _Run.t_anyof,
    "size": _Run.t_size,
    "exists": _Run.t_exists,
    "header": _Run.t_header,
    "address": _Run.t_address,
    "envelope": _Run.t_envelope,
    "body": _Run.t_body,
    "string": _Run.t_string,
    "hasflag": _Run.t_hasflag,
    "mailboxexists": _Run.t_mailboxexists,
    "date": _Run.t_date,
    "currentdate": _Run.t_currentdate,
}
