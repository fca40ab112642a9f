"""The runner: queue + relay client + clock. The clock is injected, so
back-off of minutes and hours runs in milliseconds."""

from __future__ import annotations

import asyncio
import random

import pytest

from hivemail.outbound import OutboundQueue, OutboundRunner, OutboundSettings
from tests.support.smtp_capture import SmtpCapture
from tests.unit.outbound.conftest import START, arun

MSG = b"Subject: redirected\r\n\r\nbody\r\n"


def make(tmp_path, clock, port: int, **kw) -> tuple[OutboundQueue, OutboundRunner]:
    s = OutboundSettings(smarthost=f"127.0.0.1:{port}", retry_jitter=0.0, timeout=2.0, **kw)
    q = OutboundQueue(tmp_path / "queue", s, clock, random.Random(3))
    q.recover()
    return q, OutboundRunner(q, s, clock)


async def until(predicate, what: str, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    pytest.fail(f"timed out waiting for {what}")


def test_relay_down_then_back_delivers_exactly_once_after_back_off(tmp_path, clock):
    async def go():
        relay = SmtpCapture()
        port = await relay.start()
        await relay.stop()  # the relay is down: connections are refused
        q, runner = make(tmp_path, clock, port)
        entry_id = await runner.submit("a@x", ["b@y"], MSG)

        assert await runner.run_due() == 1
        [e] = q.entries()
        assert (e.id, e.attempts, e.next_attempt) == (entry_id, 1, START + 60)
        assert "cannot connect" in e.last_error

        clock.advance(59)
        assert await runner.run_due() == 0  # not before its time
        clock.advance(1)
        assert await runner.run_due() == 1
        [e] = q.entries()
        assert (e.attempts, e.next_attempt) == (2, START + 60 + 120)

        await relay.start(port)  # back
        clock.advance(119)
        assert await runner.run_due() == 0
        assert relay.messages == []
        clock.advance(1)
        assert await runner.run_due() == 1
        assert q.entries() == [] and q.failed_entries() == []
        clock.advance(10 * 3600)
        assert await runner.run_due() == 0
        await relay.stop()
        return relay, runner

    relay, runner = arun(go())
    assert [(m.sender, m.recipients, m.data) for m in relay.messages] == [("a@x", ["b@y"], MSG)]
    assert runner.attempts == 3


def test_partial_success_then_the_deferred_recipient_alone(tmp_path, clock):
    async def go():
        relay = SmtpCapture(rcpt_replies={"busy@y": b"450 4.2.1 busy", "gone@y": b"550 5.1.1 unknown"})
        await relay.start()
        q, runner = make(tmp_path, clock, relay.port)
        await runner.submit("a@x", ["ok@y", "busy@y", "gone@y", "ok2@y"], MSG)
        await runner.run_due()
        [e] = q.entries()
        assert e.recipients == ("busy@y",) and e.attempts == 1 and "450" in e.last_error
        del relay.rcpt_replies["busy@y"]
        clock.advance(60)
        await runner.run_due()
        assert q.entries() == [] and q.failed_entries() == []
        await relay.stop()
        return relay

    relay = arun(go())
    assert [m.recipients for m in relay.messages] == [["ok@y", "ok2@y"], ["busy@y"]]


def test_every_recipient_refused_goes_to_failed_not_nowhere(tmp_path, clock):
    async def go():
        async with SmtpCapture(rcpt_replies={"gone@y": b"550 5.1.1 unknown"}) as relay:
            q, runner = make(tmp_path, clock, relay.port)
            entry_id = await runner.submit("a@x", ["gone@y"], MSG)
            await runner.run_due()
            return q, entry_id

    q, entry_id = arun(go())
    assert q.entries() == []
    [f] = q.failed_entries()
    assert f.id == entry_id and f.recipients == ("gone@y",) and "550" in f.last_error


def test_message_refused_by_the_relay_goes_to_failed(tmp_path, clock):
    async def go():
        async with SmtpCapture(data_reply=b"554 5.7.1 spam") as relay:
            q, runner = make(tmp_path, clock, relay.port)
            await runner.submit("a@x", ["b@y", "c@y"], MSG)
            await runner.run_due()
            return q

    q = arun(go())
    assert q.entries() == []
    [f] = q.failed_entries()
    assert f.recipients == ("b@y", "c@y") and "554" in f.last_error


def test_gives_up_after_max_age(tmp_path, clock):
    async def go():
        relay = SmtpCapture(down=True)
        await relay.start()
        q, runner = make(tmp_path, clock, relay.port, max_age=3 * 3600, retry_max=3600)
        await runner.submit("a@x", ["b@y"], MSG)
        tries = 0
        for _ in range(20):
            nxt = q.next_due()
            if nxt is None:
                break
            clock.now = nxt
            tries += await runner.run_due()
        await relay.stop()
        return q, tries

    q, tries = arun(go())
    # attempts at 0, 60, 180, 420, 900, 1860, 3780, 7380, 10980 s: the
    # last is past 3 h
    assert tries == 9
    assert q.entries() == []
    [f] = q.failed_entries()
    assert f.attempts == 8 and "given up after 9 attempts" in f.last_error


def test_a_bug_in_the_client_defers_instead_of_losing(tmp_path, clock):
    async def broken(*args):
        raise RuntimeError("boom")

    async def go():
        q, runner = make(tmp_path, clock, 1)
        runner.send = broken
        await runner.submit("a@x", ["b@y"], MSG)
        await runner.run_due()
        return q

    q = arun(go())
    [e] = q.entries()
    assert e.attempts == 1 and "boom" in e.last_error


def test_the_loop_wakes_on_submit_and_stops_cleanly(tmp_path, clock):
    async def go():
        async with SmtpCapture() as relay:
            q, runner = make(tmp_path, clock, relay.port)
            runner.poll_interval = 3600  # only a wake-up can make it send
            task = runner.start()
            await asyncio.sleep(0.05)
            await runner.submit("a@x", ["b@y"], MSG)
            await until(lambda: len(relay.messages) == 1, "the first message")
            await runner.submit("a@x", ["c@y"], MSG)
            await until(lambda: len(relay.messages) == 2, "the second message")
            await until(lambda: not q.entries(), "an empty queue")
            await runner.stop(grace=2)
            assert task.done() and task.exception() is None
            return relay

    relay = arun(go())
    assert [m.recipients for m in relay.messages] == [["b@y"], ["c@y"]]


def test_the_loop_retries_when_the_clock_reaches_the_entry(tmp_path, clock):
    async def go():
        relay = SmtpCapture(down=True)
        await relay.start()
        q, runner = make(tmp_path, clock, relay.port)
        runner.poll_interval = 0.02  # wall time between looks; the fake clock decides what is due
        runner.start()
        await runner.submit("a@x", ["b@y"], MSG)
        await until(lambda: runner.attempts == 1 and q.entries()[0].attempts == 1, "the first attempt")
        relay.down = False
        await asyncio.sleep(0.1)
        assert runner.attempts == 1  # not due yet by the clock
        clock.advance(60)
        await until(lambda: len(relay.messages) == 1, "the retry")
        await runner.stop(grace=2)
        await relay.stop()
        return q, relay, runner

    q, relay, runner = arun(go())
    assert q.entries() == [] and len(relay.messages) == 1 and runner.attempts == 2


def test_stop_cancels_a_send_that_outlasts_the_grace_and_keeps_the_entry(tmp_path, clock):
    async def go():
        async with SmtpCapture(silent=True) as relay:
            q, runner = make(tmp_path, clock, relay.port)
            runner.start()
            await runner.submit("a@x", ["b@y"], MSG)
            await until(lambda: relay.connections == 1, "the connection")
            loop = asyncio.get_running_loop()
            start = loop.time()
            await runner.stop(grace=0.1)
            return q, loop.time() - start

    q, elapsed = arun(go())
    assert elapsed < 1.5
    [e] = q.entries()
    assert e.attempts == 0  # untouched: sent again at the next start


def test_a_second_runner_on_the_same_queue_is_refused(tmp_path, clock):
    from hivemail.outbound import QueueLocked

    async def go():
        q, runner = make(tmp_path, clock, 1)
        runner.poll_interval = 3600
        runner.start()
        await asyncio.sleep(0.05)
        other = OutboundRunner(OutboundQueue(q.root, q.settings, clock), q.settings, clock)
        with pytest.raises(QueueLocked):
            await other.run()
        await runner.stop(grace=1)

    arun(go())


def test_a_runner_needs_a_smarthost(tmp_path):
    with pytest.raises(ValueError):
        OutboundRunner(OutboundQueue(tmp_path), OutboundSettings())


def test_a_queue_error_does_not_end_the_loop(tmp_path, clock):
    async def go():
        async with SmtpCapture() as relay:
            q, runner = make(tmp_path, clock, relay.port)
            runner.poll_interval = 0.02
            real_due, failures = q.due, []

            def flaky_due(now=None):
                if len(failures) < 3:
                    failures.append(now)
                    raise OSError(5, "Input/output error")
                return real_due(now)

            q.due = flaky_due
            task = runner.start()
            await runner.submit("a@x", ["b@y"], MSG)
            await until(lambda: len(relay.messages) == 1, "delivery after the errors")
            assert not task.done()
            await runner.stop(grace=2)
            return failures

    assert len(arun(go())) == 3
