"""MessageAnalysis <-> compact JSON, for the store to persist.

The format is versioned (``"v"``); bump it when fields change so stored
analyses can be recomputed.  Raw header strings are latin-1 carried and
decoded text is ordinary Unicode, so JSON represents both exactly; tuples
are rebuilt on load so that ``loads(dumps(a)) == a``.

A field added with a default that means "unknown" (``dot_free``, key
``"df"``) does not bump the version: a record without the key loads with
the default, and readers of that field cope with "unknown".
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from .addresses import Address
from .parse import Envelope, PartInfo

FORMAT_VERSION = 1

_ENV_KEYS = ("date", "subject", "from_", "sender", "reply_to", "to", "cc", "bcc", "in_reply_to", "message_id")
_ADDR_KEYS = frozenset(("from_", "sender", "reply_to", "to", "cc", "bcc"))


def _pairs(v: Any) -> tuple[tuple[str, str], ...]:
    return tuple((a, b) for a, b in v)


def _part_to(p: PartInfo) -> dict[str, Any]:
    d: dict[str, Any] = {"o": [p.header_start, p.header_end, p.body_end], "l": p.lines}
    if p.mtype is not None:
        d["t"] = [p.mtype, p.subtype]
    if p.default_type != ("text", "plain"):
        d["dt"] = list(p.default_type)
    for key, val in (
        ("p", p.params), ("e", p.encoding), ("id", p.content_id), ("ds", p.description),
        ("md5", p.md5), ("dp", p.disposition), ("dpp", p.disposition_params),
        ("lang", p.language), ("loc", p.location),
    ):
        if val:
            d[key] = val
    if p.language == ():
        d["lang"] = []
    if p.opaque:
        d["x"] = 1
    if p.children:
        d["c"] = [_part_to(c) for c in p.children]
    if p.message is not None:
        d["m"] = _part_to(p.message)
    if p.envelope is not None:
        env = p.envelope
        d["env"] = {k: getattr(env, k) for k in _ENV_KEYS if getattr(env, k) is not None}
    return d


def _part_from(d: dict[str, Any]) -> PartInfo:
    hs, he, be = d["o"]
    t = d.get("t")
    p = PartInfo(
        hs, he, be,
        mtype=t[0] if t else None,
        subtype=t[1] if t else None,
        params=_pairs(d.get("p", ())),
        default_type=tuple(d.get("dt", ("text", "plain"))),  # type: ignore[arg-type]
        encoding=d.get("e"),
        content_id=d.get("id"),
        description=d.get("ds"),
        md5=d.get("md5"),
        disposition=d.get("dp"),
        disposition_params=_pairs(d.get("dpp", ())),
        language=tuple(d["lang"]) if "lang" in d else None,
        location=d.get("loc"),
        lines=d.get("l", 0),
        opaque=bool(d.get("x")),
        children=[_part_from(c) for c in d.get("c", ())],
        message=_part_from(d["m"]) if "m" in d else None,
    )
    if "env" in d:
        e = d["env"]
        kw: dict[str, Any] = {}
        for k in _ENV_KEYS:
            if k in e:
                kw[k] = tuple(Address(*a) for a in e[k]) if k in _ADDR_KEYS else e[k]
        p.envelope = Envelope(**kw)
    return p


def dumps(a: "MessageAnalysis") -> bytes:  # noqa: F821
    doc = {
        "v": FORMAT_VERSION,
        "size": a.size,
        "root": _part_to(a.root),
        "h": a.headers,
        "date": a.sent_date.isoformat() if a.sent_date is not None else None,
    }
    if a.dot_free is not None:
        doc["df"] = a.dot_free
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")


def loads(blob: bytes) -> "MessageAnalysis":  # noqa: F821
    from .analysis import MessageAnalysis

    doc = json.loads(blob.decode("utf-8", "surrogatepass"))
    if doc.get("v") != FORMAT_VERSION:
        raise ValueError(f"unsupported analysis format {doc.get('v')!r}")
    return MessageAnalysis(
        size=doc["size"],
        root=_part_from(doc["root"]),
        headers=[(n, v) for n, v in doc["h"]],
        sent_date=datetime.fromisoformat(doc["date"]) if doc["date"] else None,
        dot_free=doc.get("df"),
    )
