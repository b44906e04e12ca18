"""Resume after a kill: a real ``stickerbot train`` process is SIGKILLed mid-run; the rerun
continues from its last checkpoint and ends where an uninterrupted run ends (same step, same
weights, same Adam moments: the data stream and the optimizer state both resume)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from segmentation import cli
from tests.segmentation.train.mascot import write_mascot_data

STEPS = 100
EVERY = 20
KILL_AFTER = 40  # kill once a checkpoint at or past this step exists
DEADLINE_S = 120


def _argv(data: Path, out: Path) -> list[str]:
    return [
        "train", str(data), "-o", str(out), "--classes-file", str(data / "classes.txt"),
        "--stage", "fcn8s", "--init", "none", "--width", "0.125", "--crop", "128",
        "--batch-size", "2", "--lr", "1e-3", "--steps", str(STEPS),
        "--checkpoint-every", str(EVERY), "--quiet",
    ]  # fmt: skip


def _checkpoint_steps(folder: Path) -> list[int]:
    found = (re.fullmatch(r"ckpt-(\d+)\.index", p.name) for p in folder.glob("ckpt-*.index"))
    return sorted(int(m.group(1)) for m in found if m)


def _state(out: Path) -> dict[str, np.ndarray]:
    reader = tf.train.load_checkpoint(str(out / "checkpoints" / "fcn8s"))
    values = {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}
    # Leave out the object graph (bytes): the variables are what must match.
    return {name: v for name, v in values.items() if np.asarray(v).dtype.kind in "fiu"}


@pytest.mark.slow
def test_a_killed_run_resumes_from_its_last_checkpoint(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = write_mascot_data(tmp_path / "data", 6, seed=3)
    killed = tmp_path / "killed"
    code = "import sys; from segmentation.cli import main; sys.exit(main(sys.argv[1:]))"
    log = tmp_path / "killed.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-c", code, *_argv(data, killed)],
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        )
    checkpoints = killed / "checkpoints" / "fcn8s"
    deadline = time.monotonic() + DEADLINE_S
    try:
        while not any(s >= KILL_AFTER for s in _checkpoint_steps(checkpoints)):
            if process.poll() is not None:
                pytest.fail(f"the run ended before it could be killed:\n{log.read_text()[-3000:]}")
            assert time.monotonic() < deadline, "no checkpoint in time"
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == -signal.SIGKILL
    assert _checkpoint_steps(checkpoints)[-1] < STEPS
    # The last checkpoint the run completed (a kill may land between writing a checkpoint's
    # files and recording it, which then does not count).
    latest = tf.train.latest_checkpoint(str(checkpoints))
    assert latest is not None
    last = int(latest.rsplit("-", 1)[1])
    assert KILL_AFTER - EVERY <= last < STEPS

    with caplog.at_level("INFO", logger="segmentation.train.loop"):
        assert cli.main(_argv(data, killed)) == cli.EXIT_OK
    assert f"at step {last}" in caplog.text
    whole = tmp_path / "whole"
    assert cli.main(_argv(data, whole)) == cli.EXIT_OK

    resumed, uninterrupted = _state(killed), _state(whole)
    assert set(resumed) == set(uninterrupted)
    assert int(resumed["step/.ATTRIBUTES/VARIABLE_VALUE"]) == STEPS
    moments = [n for n in resumed if n.startswith("optimizer/") and "iteration" not in n]
    assert moments  # Adam's moments are in the checkpoint, and they match
    for name in resumed:
        np.testing.assert_allclose(
            resumed[name], uninterrupted[name], rtol=1e-6, atol=1e-8, err_msg=name
        )
