"""The ManageSieve server (RFC 5804): a thin asyncio session (``session.py``)
and its command handlers (``handlers.py``) over the pure core in
``hivemail.managesieve_proto``."""
