"""Just enough IMAP response parsing for the soak test and the consistency
checker: a response is read whole (its literals included) and turned into a
token tree, without trusting anything the server under test says about
itself.

A response is read as *pieces*: the text of each line and, between them, the
bytes of every literal the line announced (``{n}`` at the end of a line,
RFC 9051 section 4.3). :func:`parse` turns pieces into a flat list of
tokens, where a parenthesised list is a Python list, an atom or quoted
string is ``str`` and a literal is ``bytes``. ``BODY[HEADER.FIELDS (X)]``
stays one atom, as in Dovecot's imap-parser (the section is part of the
name).
"""

from __future__ import annotations

import re
import socket

LITERAL_AT_END = re.compile(rb"~?\{(\d+)\+?\}$")


class Closed(Exception):
    """The server closed the connection (or died) in the middle of a response."""


def parse(pieces: list[bytes]) -> list:
    """Tokens of one response. ``pieces`` alternates line text and literal
    bytes, starting and ending with line text (the CRLFs removed)."""
    stack: list[list] = [[]]
    for k, piece in enumerate(pieces):
        if k % 2 == 1:
            stack[-1].append(bytes(piece))
            continue
        if k + 1 < len(pieces):
            piece = LITERAL_AT_END.sub(b"", piece.rstrip()).rstrip()
        text = piece.decode("utf-8", "replace")
        i, n = 0, len(text)
        while i < n:
            c = text[i]
            if c == " ":
                i += 1
            elif c == "(":
                stack.append([])
                i += 1
            elif c == ")":
                if len(stack) == 1:
                    raise ValueError(f"unbalanced ')' in {pieces!r}")
                done = stack.pop()
                stack[-1].append(done)
                i += 1
            elif c == '"':
                j, out = i + 1, []
                while j < n and text[j] != '"':
                    if text[j] == "\\" and j + 1 < n:
                        j += 1
                    out.append(text[j])
                    j += 1
                stack[-1].append("".join(out))
                i = j + 1
            else:
                j, depth = i, 0
                while j < n:
                    d = text[j]
                    if d == "[":
                        depth += 1
                    elif d == "]":
                        depth -= 1
                    elif depth == 0 and d in " ()":
                        break
                    j += 1
                stack[-1].append(text[i:j])
                i = j
    if len(stack) != 1:
        raise ValueError(f"unbalanced '(' in {pieces!r}")
    return stack[0]


def fetch_items(tokens: list) -> dict[str, object]:
    """``* n FETCH (K V K V ...)`` -> {K upper: V}."""
    items = tokens[3]
    return {str(items[i]).upper(): items[i + 1] for i in range(0, len(items) - 1, 2)}


def text_of(pieces: list[bytes]) -> bytes:
    """The response as one line, literals replaced by their length (for logs)."""
    out = []
    for k, p in enumerate(pieces):
        out.append(p if k % 2 == 0 else b"<%d bytes>" % len(p))
    return b"".join(out)


class SyncConnection:
    """A blocking IMAP connection for test threads. Any socket error or EOF
    becomes :class:`Closed`, which is what a killed server looks like."""

    def __init__(self, port: int, timeout: float = 20.0) -> None:
        try:
            self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        except OSError as exc:
            raise Closed(str(exc)) from exc
        self.buf = b""
        self.tags = 0
        greeting = self.read()
        if not greeting[0].startswith(b"* OK"):
            raise Closed(f"greeting {greeting!r}")

    def _fill(self) -> None:
        try:
            chunk = self.sock.recv(262144)
        except OSError as exc:
            raise Closed(str(exc)) from exc
        if not chunk:
            raise Closed("EOF")
        self.buf += chunk

    def line(self) -> bytes:
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2 :]
                return line
            self._fill()

    def exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read(self) -> list[bytes]:
        """One response as pieces (see :func:`parse`)."""
        pieces = [self.line()]
        while True:
            m = LITERAL_AT_END.search(pieces[-1])
            if not m:
                return pieces
            pieces.append(self.exact(int(m.group(1))))
            pieces.append(self.line())

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise Closed(str(exc)) from exc

    def tag(self) -> bytes:
        self.tags += 1
        return b"T%d" % self.tags

    def command(self, text: str | bytes, literal: bytes | None = None) -> tuple[list[list[bytes]], list[bytes]]:
        """Send one command (with at most one synchronizing literal at its
        end) and return (untagged responses, tagged response), each as
        pieces."""
        tag = self.tag()
        body = text.encode() if isinstance(text, str) else text
        untagged: list[list[bytes]] = []
        if literal is None:
            self.send(tag + b" " + body + b"\r\n")
        else:
            self.send(tag + b" " + body + b" {%d}\r\n" % len(literal))
            while True:
                resp = self.read()
                if resp[0].startswith(b"+"):
                    break
                if resp[0].startswith(tag + b" "):
                    return untagged, resp
                untagged.append(resp)
            self.send(literal + b"\r\n")
        while True:
            resp = self.read()
            if resp[0].startswith(tag + b" "):
                return untagged, resp
            untagged.append(resp)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def is_ok(tagged: list[bytes]) -> bool:
    parts = tagged[0].split(b" ", 2)
    return len(parts) > 1 and parts[1].upper() == b"OK"
