"""Settings: every problem is one line naming the setting; secrets never echoed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import add_bot_command
from bot.config import TELEGRAM_DOWNLOAD_LIMIT, ConfigError, Settings, load_settings
from segmentation.cli import main as cli_main

TOKEN = "123456:TEST-token_abcdefghijklmnop"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name, raising=False)


def problem(**overrides: object) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, **overrides)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_missing_token_is_one_line_naming_it() -> None:
    message = problem()
    assert "BOT_TOKEN" in message
    assert "missing" in message


def test_malformed_admin_ids_are_named() -> None:
    message = problem(BOT_TOKEN=TOKEN, ADMIN_IDS="12, alice")
    assert "ADMIN_IDS" in message
    assert "BOT_TOKEN" not in message


def test_a_malformed_token_is_named_but_not_echoed() -> None:
    message = problem(BOT_TOKEN="not a token at all: s3cr3t")
    assert "BOT_TOKEN" in message
    assert "s3cr3t" not in message


def test_several_problems_share_the_line() -> None:
    message = problem(BOT_TOKEN=TOKEN, QUEUE_MAX="0", LOG_LEVEL="chatty")
    assert "QUEUE_MAX" in message
    assert "LOG_LEVEL" in message


def test_webhook_needs_a_valid_secret() -> None:
    assert "WEBHOOK_SECRET" in problem(BOT_TOKEN=TOKEN, WEBHOOK_URL="https://example.org/hook")
    message = problem(
        BOT_TOKEN=TOKEN, WEBHOOK_URL="https://example.org/hook", WEBHOOK_SECRET="no spaces"
    )
    assert "WEBHOOK_SECRET" in message
    assert "no spaces" not in message


def test_values_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("ADMIN_IDS", " 12, 34 ,")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.setenv("TELEGRAM_API_URL", "http://127.0.0.1:8081/")
    settings = load_settings(None)
    assert frozenset({12, 34}) == settings.ADMIN_IDS
    assert settings.LOG_LEVEL == "DEBUG"
    assert settings.TELEGRAM_API_URL == "http://127.0.0.1:8081"
    assert settings.BOT_TOKEN.get_secret_value() == TOKEN
    assert TOKEN not in repr(settings)


def test_env_file(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(
        f"BOT_TOKEN={TOKEN}\nQUEUE_MAX=7\nWEBHOOK_URL=\nOTHER_TOOL_SETTING=1\n", encoding="utf-8"
    )
    settings = load_settings(env)
    assert settings.QUEUE_MAX == 7
    assert settings.WEBHOOK_URL is None


def test_defaults_and_derived_values() -> None:
    settings = load_settings(None, BOT_TOKEN=TOKEN, MAX_IMAGE_BYTES=1000)
    assert settings.MAX_IMAGE_BYTES == 1000
    assert frozenset() == settings.ADMIN_IDS
    assert settings.MODEL == "auto"
    assert load_settings(None, BOT_TOKEN=TOKEN).MAX_IMAGE_BYTES == TELEGRAM_DOWNLOAD_LIMIT
    # Telegram lets bots download at most 20 MB: a larger limit could never be reached.
    assert "MAX_IMAGE_BYTES" in problem(
        BOT_TOKEN=TOKEN, MAX_IMAGE_BYTES=TELEGRAM_DOWNLOAD_LIMIT + 1
    )
    hooked = load_settings(
        None, BOT_TOKEN=TOKEN, WEBHOOK_URL="https://example.org/tg/hook", WEBHOOK_SECRET="abc_1"
    )
    assert hooked.webhook_path == "/tg/hook"


def test_model_must_be_auto_a_registry_name_or_a_model_file() -> None:
    assert "MODEL" in problem(BOT_TOKEN=TOKEN, MODEL="resnet")


def test_every_setting_is_documented_in_env_example() -> None:
    example = (Path(__file__).parents[2] / ".env.example").read_text(encoding="utf-8")
    for name, field in Settings.model_fields.items():
        assert f"{name}=" in example, name
        assert field.description, name


def test_cli_reports_a_missing_token_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli_main(
        ["bot", "--env-file", str(tmp_path / "absent.env")], extra_commands=[add_bot_command]
    )
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "BOT_TOKEN" in err


def test_help_imports_neither_telegram_nor_tensorflow() -> None:
    probe = (
        "import sys\n"
        "from bot.cli import main\n"
        "for argv in (['stickerbot', '--help'], ['stickerbot', 'bot', '--help']):\n"
        "    sys.argv = argv\n"
        "    try:\n"
        "        main()\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print(sorted(m for m in ('telegram', 'tensorflow') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[2],
    ).stdout
    assert "stickerbot bot" in out or "{make" in out or "bot" in out
    assert out.strip().splitlines()[-1] == "[]"


def test_env_example_itself_is_valid() -> None:
    settings = load_settings(Path(__file__).parents[2] / ".env.example")
    assert settings.WEIGHTS is None
    assert settings.LISTEN_PORT is None
    assert settings.WEBHOOK_URL is None


def test_env_example_shows_every_default() -> None:
    """Each line of .env.example holds the setting's real default (or is empty for "unset"),
    so a default changed in the code and not in the example fails here."""
    settings = load_settings(Path(__file__).parents[2] / ".env.example")
    for name, field in Settings.model_fields.items():
        if field.is_required():
            continue  # BOT_TOKEN: a placeholder
        assert getattr(settings, name) == field.get_default(call_default_factory=True), name


def test_model_precision_is_checked_and_reaches_the_loader() -> None:
    message = problem(BOT_TOKEN=TOKEN, MODEL_PRECISION="int4")
    assert "MODEL_PRECISION" in message
    assert "int8-dynamic" in message
    settings = load_settings(None, BOT_TOKEN=TOKEN, MODEL_PRECISION="int8-dynamic")
    assert settings.MODEL_PRECISION == "int8-dynamic"

    from bot.app import default_segmenter_factory

    factory = default_segmenter_factory(settings)
    assert factory.keywords["precision"] == "int8-dynamic"  # type: ignore[attr-defined]


def test_queue_url_is_redis_or_unset_and_never_echoed() -> None:
    assert load_settings(None, BOT_TOKEN=TOKEN).QUEUE_URL is None
    assert load_settings(None, BOT_TOKEN=TOKEN, QUEUE_URL="").QUEUE_URL is None
    for url in ("redis://q:6379/0", "rediss://q:6380/1", "unix:///run/redis.sock"):
        settings = load_settings(None, BOT_TOKEN=TOKEN, QUEUE_URL=url)
        assert settings.QUEUE_URL == url  # noqa: SIM300 - a setting, not a constant
    message = problem(BOT_TOKEN=TOKEN, QUEUE_URL="http://:hunter2@q:6379")
    assert "QUEUE_URL" in message
    assert "hunter2" not in message


def test_model_backend_is_checked_and_reaches_the_loader() -> None:
    message = problem(BOT_TOKEN=TOKEN, MODEL_BACKEND="onnx")
    assert "MODEL_BACKEND" in message
    assert "openvino" in message
    settings = load_settings(None, BOT_TOKEN=TOKEN, MODEL_BACKEND="openvino")

    from bot.app import default_segmenter_factory

    factory = default_segmenter_factory(settings)
    assert factory.keywords["backend"] == "openvino"  # type: ignore[attr-defined]


def test_model_tta_is_checked_and_reaches_the_loader() -> None:
    from segmentation.options import TtaOptions

    message = problem(BOT_TOKEN=TOKEN, MODEL_TTA="1,huge")
    assert "MODEL_TTA" in message
    assert "'huge'" in message
    settings = load_settings(None, BOT_TOKEN=TOKEN, MODEL_TTA=" 1, 1.5 ,FLIP")
    assert settings.MODEL_TTA == "1,1.5,flip"

    from bot.app import default_segmenter_factory

    factory = default_segmenter_factory(settings)
    tta = factory.keywords["tta"]  # type: ignore[attr-defined]
    assert tta == TtaOptions(scales=(1.0, 1.5), flip=True)


INT8_OPENVINO = {"MODEL_PRECISION": "int8", "MODEL_BACKEND": "openvino"}


def _photo_folder(folder: Path) -> Path:
    from PIL import Image

    folder.mkdir()
    Image.new("RGB", (8, 8), (200, 30, 40)).save(folder / "red.png")
    (folder / "notes.txt").write_text("not a photo")
    return folder


def test_calibration_dir_reaches_the_loader_as_a_plain_path(tmp_path: Path) -> None:
    folder = _photo_folder(tmp_path / "photos")
    settings = load_settings(
        None, BOT_TOKEN=TOKEN, MODEL_CALIBRATION_DIR=str(folder), **INT8_OPENVINO
    )
    assert settings.MODEL_CALIBRATION_DIR == folder  # noqa: SIM300 - a setting

    from bot.app import default_segmenter_factory

    factory = default_segmenter_factory(settings)
    assert factory.keywords["calibration"] == (folder,)  # type: ignore[attr-defined]
    unset = default_segmenter_factory(load_settings(None, BOT_TOKEN=TOKEN, **INT8_OPENVINO))
    assert unset.keywords["calibration"] is None  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", ["missing", "file", "empty"])
def test_bad_calibration_dir_is_named(tmp_path: Path, kind: str) -> None:
    bad = tmp_path / "calibration"
    if kind == "file":
        bad.write_bytes(b"\x89PNG")
    elif kind == "empty":
        bad.mkdir()
        (bad / "notes.txt").write_text("no photo here")
    message = problem(BOT_TOKEN=TOKEN, MODEL_CALIBRATION_DIR=str(bad), **INT8_OPENVINO)
    assert "MODEL_CALIBRATION_DIR" in message
    assert repr(str(bad)) in message


@pytest.mark.parametrize(
    ("precision", "backend"), [("fp32", "openvino"), ("int8", "auto"), ("int8", "tflite")]
)
def test_calibration_dir_needs_int8_on_openvino(
    tmp_path: Path, precision: str, backend: str
) -> None:
    folder = _photo_folder(tmp_path / "photos")
    message = problem(
        BOT_TOKEN=TOKEN,
        MODEL_CALIBRATION_DIR=str(folder),
        MODEL_PRECISION=precision,
        MODEL_BACKEND=backend,
    )
    assert "MODEL_CALIBRATION_DIR" in message
    assert repr(precision) in message
    assert repr(backend) in message
