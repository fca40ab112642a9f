"""FETCH (placeholder until the family's handler lands)."""

from hivemail.imap_proto import Tagged


async def fetch(session, tag: str, request) -> Tagged:
    return Tagged.no(tag, "Not implemented yet", "CANNOT")
