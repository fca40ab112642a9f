"""\\Recent for IMAP4rev1 clients (RFC 3501 section 2.3.2).

A message is recent to exactly one session: the first to see it after it
arrived. The claims are kept in this process (one server serves a store's
IMAP clients); a mailbox first seen after a restart counts as recent only
what was saved after the server started. IMAP4rev2 drops \\Recent.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

from hivemail.imap.selected import SelectedView


class RecentTracker:
    def __init__(self) -> None:
        # Whole seconds, as the store keeps save dates.
        self.started = datetime.fromtimestamp(int(time.time()), timezone.utc)
        self._claimed: dict[int, int] = {}  # mailbox id -> highest UID claimed

    def claim(self, view: SelectedView) -> bool:
        """Give ``view`` the messages nobody has claimed yet; True if any."""
        if view.read_only:
            # EXAMINE does not take \Recent away from others (RFC 3501 6.3.2).
            return False
        claimed = self._claimed.get(view.mailbox_id)
        new = []
        for uid in reversed(view.uids):
            if claimed is not None and uid <= claimed:
                break
            if claimed is None and view.meta[uid].save_date < self.started:
                break
            new.append(uid)
        if view.uids:
            self._claimed[view.mailbox_id] = max(claimed or 0, view.uids[-1])
        view.recent.update(new)
        return bool(new)
