"""One atheris (libFuzzer) process for one target: ``python -m
tests.fuzz.atheris_worker TARGET [libFuzzer flags] [corpus dir]``.

Started by ``__main__.py``.  hivemail's modules are imported under
``atheris.instrument_imports`` so libFuzzer sees their coverage.  The
per-input time bound is libFuzzer's ``-timeout`` (it owns SIGALRM), the
memory bound is tracemalloc (``bounds.py``) plus ``-rss_limit_mb``.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["hivemail"]):
    import hivemail.imap_proto  # noqa: F401
    import hivemail.mime  # noqa: F401
    import hivemail.pop3_proto  # noqa: F401
    import hivemail.smtp_proto  # noqa: F401

from .sources import BytesSource  # noqa: E402
from .targets import TARGETS, run  # noqa: E402


def main() -> None:
    name = sys.argv[1]
    target = TARGETS[name]

    def one(data: bytes) -> None:
        run(target, BytesSource(data), seconds=None)

    atheris.Setup([sys.argv[0], *sys.argv[2:]], one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
