"""The real ``stickerbot bot`` process: start-up failures are one line; SIGTERM stops it
cleanly (exit 0); SIGKILL in the middle of a job, then a restart, still gives the user exactly
one sticker."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import numpy as np
import pytest

from tests.bot.botkit import USER, texted, to
from tests.bot.emulator import BotApiEmulator
from tests.conftest import encode

ROOT = Path(__file__).resolve().parents[2]
# Start-up imports TensorFlow and loads the model: slow on a small CI machine.
PROCESS_WAIT_S = 120.0


@asynccontextmanager
async def bot_process(
    emu: BotApiEmulator, data_dir: Path, model: Path, stderr: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    env = {
        **os.environ,
        "BOT_TOKEN": emu.token,
        "TELEGRAM_API_URL": emu.url,
        "DATA_DIR": str(data_dir),
        "MODEL": str(model),
        "MODEL_THREADS": "2",
        "LOG_LEVEL": "DEBUG",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    with stderr.open("ab") as err:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "from bot.cli import main; raise SystemExit(main())",
            "bot",
            "--env-file",
            str(data_dir / "absent.env"),
            cwd=ROOT,
            env=env,
            stdout=err,
            stderr=err,
        )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def polling(emu: BotApiEmulator) -> None:
    """Until the process is up and waiting in getUpdates."""
    await emu.wait_for_polling(timeout=PROCESS_WAIT_S)


async def wait(
    emu: BotApiEmulator, method: str, check: Callable[..., bool], since: int = 0
) -> None:
    await emu.wait_for(method, check, PROCESS_WAIT_S, since=since)


async def run_to_exit(emu: BotApiEmulator, tmp_path: Path, **env: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from bot.cli import main; raise SystemExit(main())",
        "bot",
        cwd=ROOT,
        env={
            **os.environ,
            "TELEGRAM_API_URL": emu.url,
            "DATA_DIR": str(tmp_path / "data"),
            "ISOLATE_MODEL": "false",
            **env,
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), PROCESS_WAIT_S)
    assert process.returncode is not None
    return process.returncode, err.decode(errors="replace")


async def test_a_refused_token_stops_start_up_with_one_line(
    emulator: BotApiEmulator, tmp_path: Path
) -> None:
    wrong = "123456789:AAWrongTokenForThisBot000000000"
    code, err = await run_to_exit(emulator, tmp_path, BOT_TOKEN=wrong, LOG_LEVEL="ERROR")
    assert code == 1
    assert err.strip().splitlines()[-1] == "stickerbot bot: BOT_TOKEN was refused by the Bot API"
    assert wrong not in err
    assert wrong.split(":")[1] not in err


async def test_an_unreachable_bot_api_stops_start_up_with_one_line(
    emulator: BotApiEmulator, tmp_path: Path
) -> None:
    """No network (or a wrong TELEGRAM_API_URL): after the retries, one line naming the URL,
    not a traceback. A port just closed stands for the unreachable server."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
    code, err = await run_to_exit(
        emulator, tmp_path, BOT_TOKEN=emulator.token, TELEGRAM_API_URL=url, LOG_LEVEL="ERROR"
    )
    assert code == 1
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"stickerbot bot: cannot reach the Bot API at {url} (")
    assert emulator.token not in err


async def test_a_missing_model_stops_start_up_with_one_line(
    emulator: BotApiEmulator, tmp_path: Path
) -> None:
    code, err = await run_to_exit(
        emulator,
        tmp_path,
        BOT_TOKEN=emulator.token,
        MODEL=str(tmp_path / "absent.tflite"),
        LOG_LEVEL="ERROR",
    )
    assert code == 1
    last = err.strip().splitlines()[-1]
    assert last.startswith("stickerbot bot: MODEL: TFLite model not found")


@pytest.mark.slow
async def test_sigterm_stops_the_process_cleanly(
    emulator: BotApiEmulator, tmp_path: Path, deeplab_model_path: Path, chelsea: np.ndarray
) -> None:
    log = tmp_path / "bot.log"
    async with bot_process(emulator, tmp_path / "data", deeplab_model_path, log) as process:
        await polling(emulator)
        emulator.send_photo(USER, encode(chelsea, "JPEG"))
        await wait(emulator, "editMessageText", texted(USER, "Done ✓ #1: cat"))
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), PROCESS_WAIT_S)
    output = log.read_text(errors="replace")
    assert code == 0, output[-3000:]
    assert "stopped" in output
    assert emulator.token not in output
    assert emulator.token.split(":")[1] not in output


@pytest.mark.slow
async def test_sigkill_mid_job_then_restart_sends_exactly_one_sticker(
    emulator: BotApiEmulator, tmp_path: Path, deeplab_model_path: Path, chelsea: np.ndarray
) -> None:
    data_dir, log = tmp_path / "data", tmp_path / "bot.log"
    async with bot_process(emulator, data_dir, deeplab_model_path, log) as process:
        await polling(emulator)
        # The PNG goes out; the sticker preview fails, and while the bot waits to retry...
        emulator.fail("sendSticker", times=2)
        emulator.send_photo(USER, encode(chelsea, "JPEG"))
        await wait(emulator, "sendDocument", to(USER))
        await wait(emulator, "sendSticker", lambda call: call.status == 500)
        process.kill()  # ... it dies without any chance to clean up.
        await process.wait()
    assert not [c for c in emulator.calls_to("sendSticker") if c.ok]

    mark = len(emulator.calls)
    async with bot_process(emulator, data_dir, deeplab_model_path, log) as process:
        await wait(emulator, "editMessageText", texted(USER, "Done ✓ #1: cat"), since=mark)
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), PROCESS_WAIT_S) == 0
    assert len([c for c in emulator.calls_to("sendDocument") if to(USER)(c)]) == 1
    assert len([c for c in emulator.calls_to("sendSticker") if to(USER)(c)]) == 1
