"""The one exception the Sieve library lets out of ``parse``.

Runtime errors never escape ``evaluate``: they end up in ``Outcome.errors``
with the implicit keep in force (RFC 5228 section 2.10.6), so this module
also holds the internal exception the interpreter uses to unwind.
"""

from __future__ import annotations


class SieveError(Exception):
    """A syntax or validation error, with the 1-based line and column it was found at.

    ManageSieve (RFC 5804 section 2.6) refuses PUTSCRIPT/CHECKSCRIPT with this
    text, so ``str(err)`` reads ``line L, column C: message``.
    """

    def __init__(self, line: int, column: int, message: str) -> None:
        super().__init__(f"line {line}, column {column}: {message}")
        self.line = line
        self.column = column
        self.message = message


class SieveRuntimeError(Exception):
    """Internal: aborts evaluation; ``evaluate`` turns it into an implicit keep."""

    def __init__(self, message: str, line: int = 0, column: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column

    def describe(self) -> str:
        return f"line {self.line}, column {self.column}: {self.message}" if self.line else self.message
