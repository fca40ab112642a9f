"""COMPRESS  (RFC 4978 section 3)."""

from __future__ import annotations

from dataclasses import dataclass

from ..tokens import Args

__all__ = ["CompressRequest", "parse_compress", "ALGORITHMS"]

#: algorithm = "DEFLATE"   (RFC 4978 section 5; the only one defined)
ALGORITHMS = ("DEFLATE",)


@dataclass(frozen=True)
class CompressRequest:
    """compress = "COMPRESS" SP algorithm     (command-auth =/ compress)

    An algorithm we do not know is BAD ("invalid or unknown argument",
    RFC 4978 section 3), found here.  Dovecot 2.3 answers NO instead.

    The command changes the connection's layers, so the core parses nothing
    after it until its tagged response is sent; the session takes what the
    client sent meanwhile (``take_unparsed_input()``: it is compressed)
    before it sends the OK.
    """

    algorithm: str


def parse_compress(args: Args) -> CompressRequest:
    algorithm = args.keyword("a compression algorithm")
    args.end()
    if algorithm not in ALGORITHMS:
        raise args.error(f"unknown compression algorithm {algorithm[:40]}")
    return CompressRequest(algorithm)
