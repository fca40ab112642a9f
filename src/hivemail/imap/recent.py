"""\\Recent for IMAP4rev1 clients (RFC 3501 section 2.3.2).

A message is recent to exactly one session: the first to see it after it
arrived, in whichever worker process it runs (the claims live in
:class:`~hivemail.shared_state.SharedState`). A mailbox nobody has claimed
since the server started counts as recent only what was saved after the
start. EXAMINE shows what is recent without claiming it (RFC 3501 6.3.2).
IMAP4rev2 has no \\Recent.
"""

from __future__ import annotations

import bisect
import time
from datetime import datetime, timezone

from hivemail.imap.selected import SelectedView
from hivemail.shared_state import SharedState


class RecentTracker:
    def __init__(self, shared: SharedState) -> None:
        self.shared = shared
        # Whole seconds, as the store keeps save dates.
        self.started = datetime.fromtimestamp(int(time.time()), timezone.utc)

    def claim(self, view: SelectedView) -> bool:
        """Give ``view`` the messages nobody has claimed yet; True if any."""
        started = self.started.timestamp()
        table = view.table

        def saved_before_start() -> int:
            for i in range(len(table) - 1, -1, -1):
                if table.sdates[i] < started:
                    return table.uids[i]
            return 0

        highest = 0 if view.read_only or not view.uids else view.uids[-1]
        before = self.shared.claim_recent(view.mailbox_id, view.uidvalidity, highest, saved_before_start)
        new = view.uids[bisect.bisect_right(view.uids, before) :]
        size = len(view.recent)
        view.recent.update(new)
        return len(view.recent) > size
