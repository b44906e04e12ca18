"""The real ``stickerbot worker`` process: a real model, a real redis-server; it computes a
job from the stream, heartbeats, and stops cleanly on SIGTERM (exit 0, "stopped")."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest

from bot.jobs import Job, JobState
from bot.queue.redis_jobs import RedisQueue
from bot.queue.streams import worker_statuses
from bot.queue.wire import decode_result
from segmentation.cli import build_parser
from tests.redis_server import RedisServer

ROOT = Path(__file__).resolve().parents[2]
# Start-up imports TensorFlow and loads the model: slow on a small CI machine.
WAIT_S = 120.0


def test_the_worker_command_line() -> None:
    from bot.cli import add_bot_command, add_worker_command

    parser = build_parser([add_bot_command, add_worker_command])
    args = parser.parse_args(["worker", "--queue", "redis://q:6379/0", "--concurrency", "2"])
    assert (args.queue, args.concurrency, args.model, args.thread) == (
        "redis://q:6379/0",
        2,
        "auto",
        False,
    )
    with pytest.raises(SystemExit):
        parser.parse_args(["worker"])  # --queue is required


def test_the_worker_refuses_a_bad_tta_before_loading_anything(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bot.cli import EXIT_CONFIG, add_bot_command, add_worker_command, run_worker_command

    parser = build_parser([add_bot_command, add_worker_command])
    args = parser.parse_args(["worker", "--queue", "redis://q:6379/0", "--tta", "1,zoom"])
    assert run_worker_command(args) == EXIT_CONFIG
    assert "--tta" in capsys.readouterr().err


def test_the_worker_fetches_its_model_from_the_environments_mirror(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """STICKERBOT_MODEL_MIRROR holds for `stickerbot worker` as for every other command (a
    worker on a server without internet, the mirror in its environment file)."""
    from bot import remote
    from bot.cli import EXIT_OK, add_bot_command, add_worker_command, run_worker_command
    from segmentation.models.registry import DEEPLAB_MNV2_DM05, lookup
    from segmentation.models.store import installed_path

    models = ROOT.parent / "shared" / "models"
    if not models.is_dir():
        pytest.skip(f"{models} is absent: the real models come from the project's ../shared")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("STICKERBOT_MODEL_MIRROR", str(models))
    served: list[str] = []

    async def no_redis(queue_url: str, factory: object, **_options: object) -> None:
        served.append(queue_url)  # the model was resolved: stop before Redis

    monkeypatch.setattr(remote, "serve", no_redis)
    parser = build_parser([add_bot_command, add_worker_command])
    args = parser.parse_args(
        ["worker", "--queue", "redis://q:6379/0", "--model", DEEPLAB_MNV2_DM05]
    )
    assert run_worker_command(args) == EXIT_OK
    assert served == ["redis://q:6379/0"]
    entry = lookup(DEEPLAB_MNV2_DM05)
    assert entry is not None
    assert installed_path(entry).is_file()


@pytest.mark.slow
async def test_a_real_worker_computes_a_job_and_stops_cleanly(
    redis_server: RedisServer,
    deeplab_small_model_path: Path,
    shared_fixtures: Path,
    tmp_path: Path,
) -> None:
    queue = RedisQueue(redis_server.url)
    await queue.start()
    photo = (shared_fixtures / "seed_cat" / "cat.jpg").read_bytes()
    job = Job(7, 42, 42, 3, "file", "auto", True, JobState.RUNNING, 1, None, 0.0)
    await queue.submit(job, photo)
    log = tmp_path / "worker.log"
    with log.open("ab") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "from bot.cli import main; raise SystemExit(main())",
            "worker",
            "--queue",
            redis_server.url,
            "--model",
            str(deeplab_small_model_path),
            "--model-threads",
            "2",
            "--thread",
            "--name",
            "real",
            cwd=ROOT,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
            stdout=out,
            stderr=out,
        )
    try:
        async with asyncio.timeout(WAIT_S):
            while not await queue.client.xlen(queue.keys.results):  # noqa: ASYNC110 - Redis
                await asyncio.sleep(0.1)
        [(_, fields)] = await queue.client.xrange(queue.keys.results)
        job_id, result = decode_result(fields)
        assert job_id == 7
        assert result.ok, result.detail
        assert result.target == "cat"
        assert result.png is not None
        assert result.png.startswith(b"\x89PNG")
        beat = json.loads(await queue.client.hget(queue.keys.workers, "real"))
        assert beat["model"].startswith("deeplabv3")
        os.kill(process.pid, signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), WAIT_S) == 0, log.read_text()
        [status] = worker_statuses(await queue.client.hgetall(queue.keys.workers), 60)
        assert (status.name, status.done, status.alive) == ("real", 1, False)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await queue.close()
