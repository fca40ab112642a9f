"""STORE / UID STORE  (RFC 9051 section 6.4.6, RFC 7162 section 3.1.3)."""

from __future__ import annotations

from dataclasses import dataclass

from ..seqset import SeqSet
from ..tokens import Args, ArgList

__all__ = ["StoreRequest", "parse_store", "parse_uid_store"]


@dataclass(frozen=True)
class StoreRequest:
    """store = "STORE" SP sequence-set [store-modifiers] SP store-att-flags
    store-modifiers = SP "(" store-modifier *(SP store-modifier) ")"     (RFC 4466)
    store-modifier  =/ "UNCHANGEDSINCE" SP mod-sequence-valzer          (RFC 7162)
    store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP
                      (flag-list / (flag *(SP flag)))

    ``mode`` is ``"+"`` (add), ``"-"`` (remove) or ``""`` (replace).
    """

    seqs: SeqSet
    mode: str
    flags: tuple[str, ...]
    silent: bool = False
    unchanged_since: int | None = None
    uid: bool = False


def _parse(args: Args, uid: bool) -> StoreRequest:
    seqs = args.seqset("a UID set" if uid else "a sequence set")
    unchanged_since = None
    if isinstance(args.peek(), ArgList):
        mods = args.list("store modifiers")
        while not mods.at_end():
            name = mods.keyword("a store modifier")
            if name != "UNCHANGEDSINCE" or unchanged_since is not None:
                raise args.error(f"unknown or repeated store modifier {name}")
            unchanged_since = mods.number("a mod-sequence value", bits64=True)
    item = args.keyword("+FLAGS, -FLAGS or FLAGS")
    mode = item[0] if item[:1] in ("+", "-") else ""
    base = item[len(mode):]
    if base not in ("FLAGS", "FLAGS.SILENT"):
        raise args.error(f"expected +FLAGS, -FLAGS or FLAGS (optionally .SILENT), got {item}")
    if isinstance(args.peek(), ArgList):
        flags = args.flag_list()
    else:
        flags_list = [args.flag()]
        while not args.at_end():
            flags_list.append(args.flag())
        flags = tuple(flags_list)
    args.end()
    if "\\Recent" in flags:
        raise args.error("\\Recent cannot be stored")
    return StoreRequest(seqs, mode, flags, base.endswith(".SILENT"), unchanged_since, uid)


def parse_store(args: Args) -> StoreRequest:
    return _parse(args, False)


def parse_uid_store(args: Args) -> StoreRequest:
    return _parse(args, True)
