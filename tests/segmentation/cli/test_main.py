"""``stickerbot`` itself: its help answers without heavy imports; no command is a usage error."""

from __future__ import annotations

import subprocess
import sys

import pytest

from segmentation import cli


def test_help_does_not_import_tensorflow() -> None:
    code = (
        "import sys\n"
        "from bot.cli import main\n"
        "sys.argv = ['stickerbot', '--help']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('tensorflow', 'telegram', 'keras', 'aiohttp') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert "make" in result.stdout
    assert "classes" in result.stdout
    assert "weights" in result.stdout
    assert "HEAVY []" in result.stdout


def test_no_command_prints_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == cli.EXIT_USAGE
    assert "usage: stickerbot" in capsys.readouterr().err
