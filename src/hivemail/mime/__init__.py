"""MIME analysis: pure, protocol-neutral (DESIGN.md "mime/", after Dovecot's lib-mail).

    raw = normalise_crlf(data)
    a = analyse(raw)                       # never raises; linear time
    blob = a.to_bytes(); MessageAnalysis.from_bytes(blob) == a
    a.part((1, 2))                         # PartInfo with byte offsets into raw
"""

from .addresses import Address, parse_address_list
from .analysis import MessageAnalysis, analyse, decode_transfer, normalise_crlf
from .headers import decode_bytes, decode_words, param_value
from .parse import DEFAULT_MAX_DEPTH, Envelope, PartInfo

__all__ = [
    "Address",
    "DEFAULT_MAX_DEPTH",
    "Envelope",
    "MessageAnalysis",
    "PartInfo",
    "analyse",
    "decode_bytes",
    "decode_transfer",
    "decode_words",
    "normalise_crlf",
    "param_value",
    "parse_address_list",
]
