"""The Redis queue against a real redis-server: leases, take-overs, attempts, acknowledgement
only after the result is stored, and malformed entries skipped."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from bot.jobs import Job, JobState
from bot.journal import Journal
from bot.queue import Claim
from bot.queue.redis_dispatch import CONSUMER, RedisDispatch
from bot.queue.redis_jobs import RedisQueue
from bot.queue.streams import BOTS_GROUP, WORKERS_GROUP, connect
from bot.queue.wire import decode_job, decode_result, encode_job, encode_result
from bot.results import ErrorKind, JobResult
from bot.runner import Runner
from tests.redis_server import RedisServer

LEASE_S = 0.3
PHOTO = b"\xff\xd8 a photo"


def job(job_id: int, attempts: int = 1) -> Job:
    return Job(job_id, 10, 10, 5, "file", "auto", True, JobState.RUNNING, attempts, None, 0.0)


@pytest.fixture
async def queue(redis_server: RedisServer) -> AsyncIterator[RedisQueue]:
    q = RedisQueue(redis_server.url)
    await q.start()
    yield q
    await q.close()


async def pending(q: RedisQueue) -> int:
    return int((await q.client.xpending(q.keys.jobs, WORKERS_GROUP))["pending"])


async def test_a_job_is_acknowledged_only_with_its_result_stored(queue: RedisQueue) -> None:
    await queue.submit(job(1), PHOTO)
    claim = await queue.claim("a", LEASE_S)
    assert claim is not None
    assert (claim.job.id, claim.attempt, claim.data) == (1, 1, PHOTO)
    assert await pending(queue) == 1
    assert await queue.client.xlen(queue.keys.results) == 0
    await queue.complete(1, JobResult(png=b"png", target="cat"))
    assert await pending(queue) == 0
    assert await queue.client.xlen(queue.keys.jobs) == 0  # deleted: Redis holds no backlog
    [(_, fields)] = await queue.client.xrange(queue.keys.results)
    job_id, result = decode_result(fields)
    assert (job_id, result.png, result.target) == (1, b"png", "cat")


async def test_a_lapsed_lease_hands_the_job_to_another_worker(queue: RedisQueue) -> None:
    await queue.submit(job(1), PHOTO)
    first = await queue.claim("a", LEASE_S)
    assert first is not None
    assert await queue.claim("b", LEASE_S) is None  # leased to a
    await asyncio.sleep(LEASE_S * 1.5)  # a went silent
    taken = await queue.claim("b", LEASE_S)
    assert taken is not None
    assert (taken.job.id, taken.attempt) == (1, 2)
    assert queue.redelivered == 1
    assert not await queue.renew(1, "a", LEASE_S)  # a lost it


async def test_a_renewed_lease_keeps_the_job(queue: RedisQueue) -> None:
    await queue.submit(job(1), PHOTO)
    assert await queue.claim("a", LEASE_S) is not None
    deadline = time.monotonic() + LEASE_S * 3
    while time.monotonic() < deadline:
        assert await queue.renew(1, "a", LEASE_S)
        await asyncio.sleep(LEASE_S / 3)
        assert await queue.claim("b", LEASE_S) is None


async def test_attempts_add_the_bots_dispatches_and_redis_deliveries(queue: RedisQueue) -> None:
    await queue.submit(job(1, attempts=2), PHOTO)  # the bot dispatched it twice
    claim = await queue.claim("a", LEASE_S)
    assert claim is not None
    assert claim.attempt == 2
    await asyncio.sleep(LEASE_S * 1.5)
    again = await queue.claim("b", LEASE_S)
    assert again is not None
    assert again.attempt == 3


async def test_a_released_job_goes_back_without_an_attempt(queue: RedisQueue) -> None:
    await queue.submit(job(1), PHOTO)
    assert await queue.claim("a", LEASE_S) is not None
    await queue.release(1, "a")
    assert await pending(queue) == 0
    again = await queue.claim("b", LEASE_S)
    assert again is not None
    assert (again.attempt, again.data) == (1, PHOTO)


@pytest.mark.parametrize(
    "fields",
    [
        {b"junk": b"1"},
        {b"v": b"1", b"job": b"{not json", b"photo": b""},
        {b"v": b"1", b"job": b'{"id": "x"}', b"photo": b""},
        {b"v": b"1", b"job": b"[1, 2]", b"photo": b""},
        {b"v": b"1", b"job": b'{"id": 3}'},
        {b"v": b"9", b"job": b"{}", b"photo": b""},
    ],
)
async def test_a_malformed_entry_is_logged_and_skipped(
    queue: RedisQueue, fields: dict[bytes, bytes], caplog: pytest.LogCaptureFixture
) -> None:
    await queue.client.xadd(queue.keys.jobs, fields)
    await queue.submit(job(2), PHOTO)
    with caplog.at_level(logging.ERROR, logger="bot.queue.redis_jobs"):
        assert await queue.claim("a", LEASE_S) is None
    assert "malformed job entry" in caplog.text
    claim = await queue.claim("a", LEASE_S)
    assert claim is not None
    assert claim.job.id == 2
    assert await pending(queue) == 1  # only the good one


async def test_a_failure_is_a_result_too(queue: RedisQueue) -> None:
    await queue.submit(job(1), PHOTO)
    assert await queue.claim("a", LEASE_S) is not None
    await queue.fail(1, ErrorKind.GAVE_UP, "3 attempts")
    [(_, fields)] = await queue.client.xrange(queue.keys.results)
    assert decode_result(fields)[1].error is ErrorKind.GAVE_UP
    assert await pending(queue) == 0


async def test_claims_wait_out_a_redis_restart(redis_server: RedisServer) -> None:
    queue = RedisQueue(redis_server.url)
    await queue.start()
    await queue.submit(job(1), PHOTO)
    redis_server.restart()  # append-only file: the job survives
    claim = None
    for _ in range(20):
        claim = claim or await queue.claim("a", LEASE_S)
    assert claim is not None
    assert claim.job.id == 1
    await queue.close()


def test_a_job_crosses_the_wire_whole_but_for_the_bots_own_fields() -> None:
    original = Job(9, -100, 7, 3, "file-9", "dog", False, JobState.QUEUED, 2, 77, 1.5)
    decoded, photo = decode_job(encode_job(original, PHOTO))
    assert photo == PHOTO
    assert decoded == replace(original, state=JobState.RUNNING, status_message_id=None)


async def test_the_bot_skips_a_malformed_result_and_acknowledges_it(
    redis_server: RedisServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    journal = await Journal.open(tmp_path / "journal.sqlite3")
    dispatch = RedisDispatch(
        redis_server.url, journal, no_fetch, in_flight=4, lease_s=LEASE_S, max_attempts=3
    )
    await dispatch.start()
    try:
        results = dispatch.keys.results
        await dispatch.client.xadd(results, {b"v": b"1", b"result": b"{broken"})
        await dispatch.client.xadd(results, encode_result(5, JobResult(png=b"p"), worker="w"))
        with caplog.at_level(logging.ERROR, logger="bot.queue.redis_dispatch"):
            finished = await dispatch.next_result()
        assert finished.job_id == 5
        assert "malformed result entry" in caplog.text
        await dispatch.delivered(5)
        assert await dispatch.client.xlen(results) == 0  # both acknowledged and deleted
    finally:
        await dispatch.stop()
        await journal.close()


async def test_a_result_whose_read_reply_was_lost_is_read_again_once_redis_is_back(
    redis_server: RedisServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis hands the bot a result and the connection breaks before the reply arrives (a Redis
    restart): the entry waits in the bot's pending list, and is read from there once Redis is
    back -- not left there until the bot restarts."""
    journal = await Journal.open(tmp_path / "journal.sqlite3")
    dispatch = RedisDispatch(
        redis_server.url, journal, no_fetch, in_flight=4, lease_s=LEASE_S, max_attempts=3
    )
    await dispatch.start()
    results = dispatch.keys.results
    try:
        await dispatch.client.xadd(results, encode_result(4, JobResult(png=b"p"), worker="w"))
        assert (await dispatch.next_result()).job_id == 4  # past the start's own backlog
        await dispatch.delivered(4)
        await dispatch.client.xadd(results, encode_result(5, JobResult(png=b"p"), worker="w"))
        lost = connect(redis_server.url)  # read as the bot's consumer; the reply is "lost"
        assert await lost.xreadgroup(BOTS_GROUP, CONSUMER, {results: ">"}, count=1)
        await lost.aclose()
        reading = asyncio.create_task(dispatch.next_result())
        with caplog.at_level(logging.WARNING, logger="bot.queue.streams"):
            redis_server.stop()
            async with asyncio.timeout(30):
                while "while reading results" not in caplog.text:  # noqa: ASYNC110 - a log
                    await asyncio.sleep(0.05)
            redis_server.start()
            async with asyncio.timeout(30):
                assert (await reading).job_id == 5
    finally:
        await dispatch.stop()
        await journal.close()


async def no_fetch(job: Job) -> bytes:
    raise AssertionError("nothing is dispatched in this test")


async def test_a_runner_gives_up_on_a_job_handed_out_too_often(queue: RedisQueue) -> None:
    computed: list[bytes] = []

    async def compute(data: bytes, options: object) -> JobResult:
        computed.append(data)
        return JobResult(png=b"png", target="cat")

    await queue.submit(job(1, attempts=3), PHOTO)  # the third dispatch: still allowed
    await queue.submit(job(2, attempts=4), PHOTO)  # one too many
    runner = Runner(
        queue, compute, name="r", lease_s=5, hold_s=60, max_attempts=3, max_bytes=1 << 20
    )
    runner.start()
    try:
        async with asyncio.timeout(10):
            while await queue.client.xlen(queue.keys.results) < 2:  # noqa: ASYNC110 - Redis
                await asyncio.sleep(0.02)
    finally:
        await runner.stop(1)
    results = dict(decode_result(f) for _, f in await queue.client.xrange(queue.keys.results))
    assert results[1].ok
    assert results[2].error is ErrorKind.GAVE_UP
    assert computed == [PHOTO]  # job 2 never reached the model
    assert runner.counters.gave_up == 1


async def test_a_hung_model_lets_its_jobs_go_to_another_worker_after_the_hold(
    queue: RedisQueue, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A live worker whose model never returns renews its leases for ``hold_s``, then lets them
    run out: the job on the model and the one waiting behind it go to another worker, and the
    hung worker does not take them back."""
    lease_s, hold_s = 1.0, 3.0
    model_returns = asyncio.Event()

    async def hung(data: bytes, options: object) -> JobResult:
        await model_returns.wait()
        return JobResult(png=b"late", target="cat")

    for job_id in (1, 2, 3):
        await queue.submit(job(job_id), PHOTO)
    runner = Runner(
        queue, hung, name="hung", lease_s=lease_s, hold_s=hold_s, max_attempts=3, max_bytes=1 << 20
    )
    rescuer = RedisQueue(redis_server.url)
    taken: dict[int, Claim] = {}
    started = time.monotonic()
    runner.start()
    try:
        with caplog.at_level(logging.WARNING, logger="bot.runner"):
            # The old bound (20 leases) would hold them 20 s; the hold lets them go after 3 s.
            async with asyncio.timeout(hold_s + 6 * lease_s):
                while len(taken) < 3:
                    claim = await rescuer.claim("rescuer", lease_s)
                    if claim is not None:
                        taken[claim.job.id] = claim
                        await rescuer.complete(claim.job.id, JobResult(png=b"p", target="cat"))
                        if len(taken) == 1:
                            assert claim.job.id == 3  # never claimed by the hung worker
                        else:
                            assert time.monotonic() - started > hold_s  # renewed till then
        assert runner.counters.computing == {1}  # still on the hung model
        assert {job_id: c.attempt for job_id, c in taken.items()} == {1: 2, 2: 2, 3: 1}
        assert "job 1 held over 3 s (a hung model?)" in caplog.text
        assert "job 2 held over 3 s" in caplog.text
    finally:
        model_returns.set()
        await runner.stop(1)
        await rescuer.close()
