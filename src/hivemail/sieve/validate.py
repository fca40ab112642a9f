"""Which commands, tests and tagged arguments exist, and binding arguments to them.

Everything a script may say is in one table, ``SPECS``, keyed by name, each
entry naming the extension that must be ``require``d (RFC 5228 section 3.2:
"It is an error ... to use an extension without requiring it").  ``validate``
walks the generic tree from ``parser.py`` once, checks it against the table
and returns the same tree with ``tagged`` and ``positional`` filled in, so the
interpreter never re-reads raw arguments.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Union

from .comparators import COMPARATORS, RELATIONAL_OPS
from .errors import SieveError
from .nodes import Command, Number, StringList, Tag, TagValue, Test

# The SIEVE capability (RFC 5804 section 1.7): exactly what the interpreter does.
EXTENSIONS: tuple[str, ...] = (
    "fileinto",
    "envelope",
    "encoded-character",
    "imap4flags",
    "subaddress",
    "copy",
    "body",
    "variables",
    "relational",
    "comparator-i;ascii-numeric",
    "vacation",
    "vacation-seconds",
    "mailbox",
    "date",
    "index",
    "editheader",
    "reject",
    "ereject",
)
# Section 2.7.3: the two mandatory comparators may be required by name too.
_ALWAYS = frozenset({"comparator-i;octet", "comparator-i;ascii-casemap"})
_KNOWN = frozenset(EXTENSIONS) | _ALWAYS

STRING, STRINGLIST, NUMBER = "string", "string-list", "number"

# RFC 5260 section 4: the date-part names.
DATE_PARTS = frozenset(
    "year month day date julian hour minute second time iso8601 std11 zone weekday".split()
)
_ZONE = re.compile(r"[+-][0-9]{4}\Z")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True)
class TagSpec:
    name: str
    value: str | None = None  # STRING / STRINGLIST / NUMBER, or None for a flag-like tag
    group: str | None = None  # at most one tag of a group (":is" / ":contains" ...)
    extension: str | None = None


@dataclass(frozen=True)
class Spec:
    name: str
    kind: str  # "command", "test" or "control"
    extension: str | None = None
    tags: tuple[TagSpec, ...] = ()
    positional: tuple[str, ...] = ()
    optional: str = ""  # "first" or "last": that positional argument may be left out
    tests: int = 0  # 0: none, 1: one test, -1: a test-list
    required_group: str | None = None  # one tag of this group must be given


# MATCH-TYPE (section 2.7.1; relational adds :count and :value, RFC 5231 section 4)
_MATCH = (
    TagSpec("is", group="match"),
    TagSpec("contains", group="match"),
    TagSpec("matches", group="match"),
    TagSpec("count", STRING, "match", "relational"),
    TagSpec("value", STRING, "match", "relational"),
)
# COMPARATOR (section 2.7.3)
_COMPARATOR = (TagSpec("comparator", STRING, "comparator"),)
# ADDRESS-PART (section 2.7.4; subaddress adds :user and :detail, RFC 5233 section 4)
_ADDRESS_PART = (
    TagSpec("all", group="address-part"),
    TagSpec("localpart", group="address-part"),
    TagSpec("domain", group="address-part"),
    TagSpec("user", group="address-part", extension="subaddress"),
    TagSpec("detail", group="address-part", extension="subaddress"),
)
# RFC 5260 section 6: [:index <fieldno: number> [:last]]
_INDEX = (TagSpec("index", NUMBER, extension="index"), TagSpec("last", extension="index"))
_FLAGS = TagSpec("flags", STRINGLIST, extension="imap4flags")
_COPY = TagSpec("copy", extension="copy")

_SPEC_LIST = (
    # RFC 5228 section 3: control commands
    Spec("require", "control", positional=(STRINGLIST,)),
    Spec("if", "control", tests=1),
    Spec("elsif", "control", tests=1),
    Spec("else", "control"),
    Spec("stop", "command"),
    # section 4: actions (imap4flags adds :flags to keep and fileinto, copy adds :copy)
    Spec("keep", "command", tags=(_FLAGS,)),
    Spec("discard", "command"),
    Spec("redirect", "command", tags=(_COPY,), positional=(STRING,)),
    Spec(
        "fileinto",
        "command",
        "fileinto",
        tags=(_COPY, _FLAGS, TagSpec("create", extension="mailbox")),
        positional=(STRING,),
    ),
    # RFC 5232 section 3: setflag [<variablename: string>] <list-of-flags: string-list>
    Spec("setflag", "command", "imap4flags", positional=(STRING, STRINGLIST), optional="first"),
    Spec("addflag", "command", "imap4flags", positional=(STRING, STRINGLIST), optional="first"),
    Spec("removeflag", "command", "imap4flags", positional=(STRING, STRINGLIST), optional="first"),
    # RFC 5229 section 4: set [MODIFIER] <name: string> <value: string>
    Spec(
        "set",
        "command",
        "variables",
        tags=(
            TagSpec("lower", group="40"),
            TagSpec("upper", group="40"),
            TagSpec("lowerfirst", group="30"),
            TagSpec("upperfirst", group="30"),
            TagSpec("quotewildcard", group="20"),
            TagSpec("length", group="10"),
        ),
        positional=(STRING, STRING),
    ),
    # RFC 5230 section 4 (and RFC 6131 for :seconds)
    Spec(
        "vacation",
        "command",
        "vacation",
        tags=(
            TagSpec("days", NUMBER, "period"),
            TagSpec("seconds", NUMBER, "period", "vacation-seconds"),
            TagSpec("subject", STRING),
            TagSpec("from", STRING),
            TagSpec("addresses", STRINGLIST),
            TagSpec("mime"),
            TagSpec("handle", STRING),
        ),
        positional=(STRING,),
    ),
    # RFC 5429 sections 2.1 and 2.2
    Spec("reject", "command", "reject", positional=(STRING,)),
    Spec("ereject", "command", "ereject", positional=(STRING,)),
    # RFC 5293 sections 4 and 5
    Spec("addheader", "command", "editheader", tags=(TagSpec("last"),), positional=(STRING, STRING)),
    Spec(
        "deleteheader",
        "command",
        "editheader",
        tags=(TagSpec("index", NUMBER), TagSpec("last")) + _COMPARATOR + _MATCH,
        positional=(STRING, STRINGLIST),
        optional="last",
    ),
    # section 5: tests
    Spec("address", "test", tags=_ADDRESS_PART + _COMPARATOR + _MATCH + _INDEX, positional=(STRINGLIST, STRINGLIST)),
    Spec("envelope", "test", "envelope", tags=_ADDRESS_PART + _COMPARATOR + _MATCH, positional=(STRINGLIST, STRINGLIST)),
    Spec("header", "test", tags=_COMPARATOR + _MATCH + _INDEX, positional=(STRINGLIST, STRINGLIST)),
    Spec("exists", "test", positional=(STRINGLIST,)),
    Spec(
        "size",
        "test",
        tags=(TagSpec("over", NUMBER, "size"), TagSpec("under", NUMBER, "size")),
        required_group="size",
    ),
    Spec("true", "test"),
    Spec("false", "test"),
    Spec("not", "test", tests=1),
    Spec("allof", "test", tests=-1),
    Spec("anyof", "test", tests=-1),
    # RFC 5173 section 5: body [COMPARATOR] [MATCH-TYPE] [BODY-TRANSFORM] <key-list>
    Spec(
        "body",
        "test",
        "body",
        tags=_COMPARATOR
        + _MATCH
        + (
            TagSpec("raw", group="transform"),
            TagSpec("content", STRINGLIST, "transform"),
            TagSpec("text", group="transform"),
        ),
        positional=(STRINGLIST,),
    ),
    # RFC 5229 section 5
    Spec("string", "test", "variables", tags=_COMPARATOR + _MATCH, positional=(STRINGLIST, STRINGLIST)),
    # RFC 5232 section 4
    Spec("hasflag", "test", "imap4flags", tags=_COMPARATOR + _MATCH, positional=(STRINGLIST, STRINGLIST), optional="first"),
    # RFC 5490 section 3.1
    Spec("mailboxexists", "test", "mailbox", positional=(STRINGLIST,)),
    # RFC 5260 sections 4 and 5
    Spec(
        "date",
        "test",
        "date",
        tags=(TagSpec("zone", STRING, "zone"), TagSpec("originalzone", group="zone")) + _COMPARATOR + _MATCH + _INDEX,
        positional=(STRING, STRING, STRINGLIST),
    ),
    Spec(
        "currentdate",
        "test",
        "date",
        tags=(TagSpec("zone", STRING, "zone"),) + _COMPARATOR + _MATCH,
        positional=(STRING, STRINGLIST),
    ),
)
SPECS: dict[str, Spec] = {s.name: s for s in _SPEC_LIST}

Node = Union[Command, Test]


def validate(commands: tuple[Command, ...]) -> tuple[tuple[Command, ...], frozenset[str]]:
    """Check ``commands`` against ``SPECS``; return them bound, and the required extensions."""
    extensions: set[str] = set()
    for cmd in commands:
        if cmd.name != "require":
            break
        arg = cmd.arguments[0] if cmd.arguments else None
        if isinstance(arg, StringList):
            for name in arg.values:
                if name not in _KNOWN:
                    raise SieveError(arg.line, arg.column, f"unsupported extension {name!r}")
                extensions.add(name)
    checker = _Checker(frozenset(extensions))
    return checker.block(commands, top=True), frozenset(extensions)


class _Checker:
    def __init__(self, extensions: frozenset[str]) -> None:
        self.extensions = extensions

    def block(self, commands: tuple[Command, ...], top: bool = False) -> tuple[Command, ...]:
        out = []
        previous = ""
        in_preamble = top
        for cmd in commands:
            if cmd.name == "require":
                if not in_preamble:
                    raise _error(cmd, "'require' must come before any other command (RFC 5228 section 3.2)")
            else:
                in_preamble = False
            if cmd.name in ("elsif", "else") and previous not in ("if", "elsif"):
                raise _error(cmd, f"'{cmd.name}' must follow 'if' or 'elsif'")
            out.append(self.command(cmd))
            previous = cmd.name
        return tuple(out)

    def command(self, cmd: Command) -> Command:
        spec = SPECS.get(cmd.name)
        if spec is None or spec.kind == "test":
            raise _error(cmd, f"unknown command {cmd.name!r}")
        self.need(cmd, spec.extension, f"command {cmd.name!r}")
        is_block_control = cmd.name in ("if", "elsif", "else")
        if is_block_control and cmd.block is None:
            raise _error(cmd, f"'{cmd.name}' needs a block {{ ... }}")
        if not is_block_control and cmd.block is not None:
            raise _error(cmd, f"'{cmd.name}' takes no block")
        tagged, positional = self.bind(cmd, spec)
        tests = self.tests(cmd, spec)
        block = self.block(cmd.block) if cmd.block is not None else None
        return dataclasses.replace(cmd, tagged=tagged, positional=positional, tests=tests, block=block)

    def test(self, test: Test) -> Test:
        spec = SPECS.get(test.name)
        if spec is None or spec.kind != "test":
            raise _error(test, f"unknown test {test.name!r}")
        self.need(test, spec.extension, f"test {test.name!r}")
        tagged, positional = self.bind(test, spec)
        return dataclasses.replace(test, tagged=tagged, positional=positional, tests=self.tests(test, spec))

    def tests(self, node: Node, spec: Spec) -> tuple[Test, ...]:
        if spec.tests == 0 and node.tests:
            hint = f" (missing ';' before '{node.tests[0].name}'?)" if isinstance(node, Command) else ""
            raise _error(node.tests[0], f"'{node.name}' takes no test{hint}")
        if spec.tests == 1 and len(node.tests) != 1:
            raise _error(node, f"'{node.name}' needs exactly one test")
        if spec.tests == -1 and not node.tests:
            raise _error(node, f"'{node.name}' needs a test list ( ... )")
        return tuple(self.test(t) for t in node.tests)

    def need(self, at: Node | Tag, extension: str | None, what: str) -> None:
        if extension is not None and extension not in self.extensions:
            raise _error(at, f'{what} needs require "{extension}"')

    def bind(self, node: Node, spec: Spec) -> tuple[tuple[tuple[str, TagValue], ...], tuple]:
        # Section 2.6.2: tagged arguments come before positional ones.
        tag_specs = {t.name: t for t in spec.tags}
        tagged: list[tuple[str, TagValue]] = []
        groups: dict[str, str] = {}
        positional: list[StringList | Number] = []
        args = node.arguments
        i = 0
        while i < len(args):
            arg = args[i]
            i += 1
            if not isinstance(arg, Tag):
                positional.append(arg)
                continue
            if positional:
                raise _error(arg, f"tagged argument ':{arg.name}' after positional arguments")
            tspec = tag_specs.get(arg.name)
            if tspec is None:
                raise _error(arg, f"unknown tagged argument ':{arg.name}' for '{node.name}'")
            self.need(arg, tspec.extension, f"':{arg.name}'")
            if any(n == arg.name for n, _ in tagged):
                raise _error(arg, f"':{arg.name}' given twice")
            if tspec.group is not None:
                if tspec.group in groups:
                    raise _error(arg, f"':{arg.name}' cannot be used with ':{groups[tspec.group]}'")
                groups[tspec.group] = arg.name
            value: TagValue = None
            if tspec.value is not None:
                if i >= len(args) or not _fits(args[i], tspec.value):
                    raise _error(arg, f"':{arg.name}' needs a {tspec.value} argument")
                value = args[i]  # type: ignore[assignment]
                i += 1
            tagged.append((arg.name, value))
        if spec.required_group is not None and spec.required_group not in groups:
            names = " or ".join(f":{t.name}" for t in spec.tags if t.group == spec.required_group)
            raise _error(node, f"'{node.name}' needs {names}")
        expected = list(spec.positional)
        if spec.optional and len(positional) == len(expected) - 1:
            expected = expected[1:] if spec.optional == "first" else expected[:-1]
            bound: list[StringList | Number | None] = list(positional)
            if spec.optional == "first":
                bound.insert(0, None)
            else:
                bound.append(None)
        else:
            bound = list(positional)
        if len(positional) != len(expected):
            at: Node | StringList | Number = positional[len(expected)] if len(positional) > len(expected) else node
            raise _error(at, f"'{node.name}' takes {len(spec.positional)} positional argument(s), got {len(positional)}")
        for arg, kind in zip(positional, expected):
            if not _fits(arg, kind):
                raise _error(arg, f"'{node.name}' expects a {kind} here")
        result = tuple(tagged)
        self.check_values(node, dict(result), bound)
        return result, tuple(bound)

    def check_values(self, node: Node, tags: dict[str, TagValue], positional: list) -> None:
        """The constraints the table cannot state: names, operators, comparator support."""
        comparator = tags.get("comparator")
        match = next((m for m in ("is", "contains", "matches", "count", "value") if m in tags), "is")
        if isinstance(comparator, StringList):
            name = comparator.values[0]
            if name not in COMPARATORS:
                raise _error(comparator, f"unknown comparator {name!r}")
            if name not in ("i;octet", "i;ascii-casemap"):
                self.need(comparator, f"comparator-{name}", f"comparator {name!r}")
            if match in ("contains", "matches") and not COMPARATORS[name].substring:
                raise _error(comparator, f"comparator {name!r} does not support :{match}")
        for rel in ("count", "value"):
            op = tags.get(rel)
            if isinstance(op, StringList) and op.values[0].lower() not in RELATIONAL_OPS:
                raise _error(op, f"relational operator must be one of {', '.join(sorted(RELATIONAL_OPS))}")
        if "last" in tags and "index" not in tags and node.name != "addheader":
            raise _error(node, "':last' needs ':index'")
        index = tags.get("index")
        if isinstance(index, Number) and index.value < 1:
            raise _error(index, "':index' counts from 1")
        zone = tags.get("zone")
        if isinstance(zone, StringList) and not _ZONE.match(zone.values[0]) and "${" not in zone.values[0]:
            raise _error(zone, "':zone' must look like +hhmm or -hhmm")
        if node.name in ("date", "currentdate"):
            part = positional[-2]
            if isinstance(part, StringList) and part.values[0].lower() not in DATE_PARTS and "${" not in part.values[0]:
                raise _error(part, f"unknown date-part {part.values[0]!r}")
        if node.name in ("set", "setflag", "addflag", "removeflag", "hasflag"):
            names = positional[0]
            if isinstance(names, StringList):
                for name in names.values:
                    if not _IDENTIFIER.match(name):
                        raise _error(names, f"{name!r} is not a variable name")
                if node.name != "set":
                    self.need(names, "variables", "a variable name argument")
        if node.name == "require":
            # Checked in validate(): the argument is a string-list of known names.
            return


def _fits(arg: object, kind: str) -> bool:
    if kind == NUMBER:
        return isinstance(arg, Number)
    if kind == STRING:
        return isinstance(arg, StringList) and len(arg.values) == 1 and not arg.bracketed
    return isinstance(arg, StringList)


def _error(at: object, message: str) -> SieveError:
    return SieveError(getattr(at, "line", 0), getattr(at, "column", 0), message)
