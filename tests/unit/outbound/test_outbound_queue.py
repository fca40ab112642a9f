"""The on-disk queue: what it keeps, when entries are due, and recovery."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time

import pytest

from hivemail.outbound import OutboundQueue, OutboundSettings, QueueError, QueueLocked
from hivemail.outbound.queue import ORPHAN_GRACE_SECONDS
from tests.unit.outbound.conftest import START

MSG = b"From: a@example.org\r\nSubject: hi\r\n\r\nbody\r\n"
SETTINGS = OutboundSettings(retry_initial=60, retry_max=3600, retry_jitter=0.0, max_age=5 * 86400)


@pytest.fixture
def queue(tmp_path, clock):
    q = OutboundQueue(tmp_path / "queue", SETTINGS, clock, random.Random(1))
    q.recover()
    return q


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def files(q: OutboundQueue) -> list[str]:
    return sorted(n for n in os.listdir(q.root) if n.endswith((".msg", ".env")))


def test_enqueue_keeps_message_and_envelope(queue, clock):
    entry_id = queue.enqueue("a@example.org", ["b@example.net", "c@example.net"], MSG)
    [entry] = queue.entries()
    assert entry.id == entry_id
    assert (entry.sender, entry.recipients) == ("a@example.org", ("b@example.net", "c@example.net"))
    assert (entry.attempts, entry.created, entry.next_attempt, entry.last_error) == (0, START, START, "")
    assert queue.read_message(entry) == MSG
    assert files(queue) == [f"{entry_id}.env", f"{entry_id}.msg"]
    assert os.listdir(queue.tmp) == []
    with open(f"{queue.root}/{entry_id}.env", "rb") as f:
        envelope = json.loads(f.read())
    assert envelope["recipients"] == ["b@example.net", "c@example.net"] and envelope["attempts"] == 0


def test_null_sender_and_duplicate_recipients(queue):
    queue.enqueue("", ["x@example.net", "y@example.net", "x@example.net"], MSG)
    [entry] = queue.entries()
    assert entry.sender == "" and entry.recipients == ("x@example.net", "y@example.net")


@pytest.mark.parametrize(
    ("sender", "rcpts"),
    [("a@b", []), ("a@b\r\nRCPT TO:<evil@x>", ["c@d"]), ("a@b", ["c@d>"]), ("a@b", [""]), ("<a@b>", ["c@d"]),
     ("a@b", ["c@d\0"])],
)
def test_enqueue_refuses_what_could_inject_commands(queue, sender, rcpts):
    with pytest.raises(ValueError):
        queue.enqueue(sender, rcpts, MSG)
    assert files(queue) == [] and os.listdir(queue.tmp) == []


def test_due_follows_next_attempt(queue, clock):
    first = queue.enqueue("a@x", ["b@y"], MSG)
    clock.advance(1)
    second = queue.enqueue("a@x", ["c@y"], MSG)
    assert [e.id for e in queue.due()] == [first, second]
    assert [e.id for e in queue.due(START)] == [first]
    assert queue.next_due() == START


def test_deferral_backs_off_exponentially_up_to_the_cap(queue, clock):
    queue.enqueue("a@x", ["b@y"], MSG)
    delays = []
    for n in range(9):
        [entry] = queue.due()
        entry = queue.deferred(entry, entry.recipients, f"try {n}")
        assert entry is not None
        delays.append(entry.next_attempt - clock())
        assert queue.due() == []  # not due before its time
        clock.now = entry.next_attempt
    assert delays == [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]
    [entry] = queue.entries()
    assert entry.attempts == 9 and entry.last_error == "try 8"


def test_jitter_spreads_retries_below_the_step(tmp_path, clock):
    q = OutboundQueue(tmp_path / "q", OutboundSettings(retry_initial=60, retry_jitter=0.5), clock, random.Random(7))
    q.recover()
    delays = set()
    for _ in range(20):
        q.enqueue("a@x", ["b@y"], MSG)
    for entry in q.due():
        delays.add(q.deferred(entry, entry.recipients, "later").next_attempt - clock())
    assert len(delays) > 10 and all(30 <= d <= 60 for d in delays)


def test_partial_delivery_leaves_only_the_rest(queue):
    queue.enqueue("a@x", ["b@y", "c@y", "d@y"], MSG)
    [entry] = queue.entries()
    queue.deferred(entry, ["d@y", "b@y"], "451 later")
    [entry] = queue.entries()
    assert entry.recipients == ("b@y", "d@y") and entry.attempts == 1
    assert queue.read_message(entry) == MSG


def test_delivered_removes_both_files(queue):
    entry_id = queue.enqueue("a@x", ["b@y"], MSG)
    queue.delivered(entry_id)
    assert queue.entries() == [] and files(queue) == [] and queue.next_due() is None


def test_too_old_is_given_up_into_failed(queue, clock):
    entry_id = queue.enqueue("a@x", ["b@y", "c@y"], MSG)
    clock.advance(5 * 86400 - 1)
    [entry] = queue.due()
    assert queue.deferred(entry, entry.recipients, "still down") is not None
    clock.advance(1)
    [entry] = queue.entries()
    assert queue.deferred(entry, ["c@y"], "still down") is None
    assert queue.entries() == [] and files(queue) == []
    [failed] = queue.failed_entries()
    assert failed.id == entry_id and failed.recipients == ("c@y",) and "still down" in failed.last_error
    assert open(f"{queue.failed_dir}/{entry_id}.msg", "rb").read() == MSG


def test_damaged_message_file_is_detected(queue):
    entry_id = queue.enqueue("a@x", ["b@y"], MSG)
    with open(f"{queue.root}/{entry_id}.msg", "r+b") as f:
        f.write(b"X")
    [entry] = queue.entries()
    with pytest.raises(QueueError, match="damaged"):
        queue.read_message(entry)


def test_ids_are_checked_before_they_become_paths(queue):
    with pytest.raises(QueueError):
        queue.get("../../etc/passwd")


# -- recovery -------------------------------------------------------------------


def test_recover_removes_temp_files_of_dead_processes_only(queue):
    # Live writers (another process, or another task of this one: the runner
    # recovers at start while deliveries may already enqueue) keep theirs.
    live = [f"{os.getppid()}-cccc", f"{os.getpid()}-bbbb"]
    for name in [f"{dead_pid()}-aaaa", "garbage", *live]:
        with open(os.path.join(queue.tmp, name), "wb") as f:
            f.write(b"half a mess")
    done = queue.recover()
    assert done["temp_removed"] == 2
    assert sorted(os.listdir(queue.tmp)) == sorted(live)


def test_recover_removes_old_temp_files_even_of_live_processes(queue):
    path = os.path.join(queue.tmp, f"{os.getpid()}-dddd")
    with open(path, "wb") as f:
        f.write(b"x")
    old = time.time() - ORPHAN_GRACE_SECONDS - 10
    os.utime(path, (old, old))
    assert queue.recover()["temp_removed"] == 1
    assert os.listdir(queue.tmp) == []


def test_recover_removes_an_orphan_message_without_envelope(queue):
    keep = queue.enqueue("a@x", ["b@y"], MSG)
    orphan = f"{'0' * 12}-{dead_pid()}-{'1' * 8}"
    with open(f"{queue.root}/{orphan}.msg", "wb") as f:
        f.write(MSG)
    assert [e.id for e in queue.entries()] == [keep]  # never listed
    assert queue.recover()["orphans_removed"] == 1
    assert files(queue) == [f"{keep}.env", f"{keep}.msg"]


def test_recover_finishes_a_move_to_failed_cut_in_half(queue):
    entry_id = queue.enqueue("a@x", ["b@y"], MSG)
    [entry] = queue.entries()
    # What failed() leaves if killed after moving the message.
    queue.failed(entry, "relay refused")
    os.replace(f"{queue.failed_dir}/{entry_id}.env", f"{queue.root}/{entry_id}.env")
    assert queue.recover()["moves_finished"] == 1
    assert files(queue) == []
    assert [e.id for e in queue.failed_entries()] == [entry_id]


def test_recover_moves_a_damaged_envelope_aside(queue):
    entry_id = queue.enqueue("a@x", ["b@y"], MSG)
    with open(f"{queue.root}/{entry_id}.env", "wb") as f:
        f.write(b"{not json")
    assert queue.recover()["damaged"] == 1
    assert files(queue) == []
    assert sorted(os.listdir(queue.failed_dir)) == [f"{entry_id}.env", f"{entry_id}.msg"]


def test_one_runner_per_queue(tmp_path, queue):
    other = OutboundQueue(queue.root)
    queue.lock()
    with pytest.raises(QueueLocked):
        other.lock()
    queue.unlock()
    other.lock()
    other.unlock()


def test_enqueue_syncs_each_file_before_its_rename_and_the_directory_last(queue, monkeypatch):
    """kill -9 cannot show a missing fsync (the page cache survives it); the
    order of the calls can."""
    calls: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        calls.append(("fsync", "dir" if os.path.isdir(f"/proc/self/fd/{fd}") else "file"))
        real_fsync(fd)

    def replace(src, dst):
        calls.append(("rename", os.path.splitext(str(dst))[1]))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    queue.enqueue("a@x", ["b@y"], MSG)
    assert calls == [
        ("fsync", "file"), ("rename", ".msg"),
        ("fsync", "file"), ("rename", ".env"),
        ("fsync", "dir"),
    ]
    calls.clear()
    [entry] = queue.entries()
    queue.deferred(entry, entry.recipients, "later")
    assert calls == [("fsync", "file"), ("rename", ".env"), ("fsync", "dir")]
