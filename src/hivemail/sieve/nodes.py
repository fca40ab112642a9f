"""The syntax tree of a Sieve script (RFC 5228 section 8.2): frozen dataclasses.

``parser.py`` builds the generic shape the grammar gives (a command or test is
an identifier with arguments).  ``validate.py`` then binds each argument to its
role: tagged arguments by name, positional arguments in order.  The
interpreter reads only the bound fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union


@dataclass(frozen=True)
class StringList:
    """``string-list = "[" string *("," string) "]" / string``; ``bracketed`` remembers which."""

    values: tuple[str, ...]
    line: int
    column: int
    bracketed: bool = False


@dataclass(frozen=True)
class Number:
    """``number = 1*DIGIT [ QUANTIFIER ]`` with the quantifier applied (section 2.4.1)."""

    value: int
    line: int
    column: int


@dataclass(frozen=True)
class Tag:
    """``tag = ":" identifier``; ``name`` is lower-cased and keeps no colon."""

    name: str
    line: int
    column: int


Argument = Union[StringList, Number, Tag]
# What a tagged argument is bound to: its value, or None for a flag-like tag.
TagValue = Union[StringList, Number, None]


@dataclass(frozen=True)
class Test:
    """``test = identifier arguments``; ``tests`` holds a nested test or test-list."""

    name: str
    arguments: tuple[Argument, ...]
    tests: tuple["Test", ...]
    line: int
    column: int
    # Bound by validate.py.
    tagged: tuple[tuple[str, TagValue], ...] = ()
    positional: tuple[Union[StringList, Number, None], ...] = ()

    def tag(self, name: str) -> bool:
        return any(n == name for n, _ in self.tagged)

    def tag_value(self, name: str) -> TagValue:
        for n, v in self.tagged:
            if n == name:
                return v
        return None


@dataclass(frozen=True)
class Command:
    """``command = identifier arguments (";" / block)``; ``block`` is None after ``;``."""

    name: str
    arguments: tuple[Argument, ...]
    tests: tuple[Test, ...]
    block: tuple["Command", ...] | None
    line: int
    column: int
    tagged: tuple[tuple[str, TagValue], ...] = ()
    positional: tuple[Union[StringList, Number, None], ...] = ()

    tag = Test.tag
    tag_value = Test.tag_value


@dataclass(frozen=True)
class Script:
    """A parsed and validated script; ``extensions`` is what it ``require``s."""

    commands: tuple[Command, ...]
    extensions: frozenset[str] = field(default_factory=frozenset)
