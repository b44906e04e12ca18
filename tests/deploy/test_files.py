"""Docker cannot run here: check that the deploy files agree with the code instead.

Every path a Dockerfile copies exists, every setting the files pass is a real setting, the
commands they run are real ``stickerbot`` commands, and ``.env.example`` documents exactly
the settings the bot reads.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cli import add_bot_command, add_worker_command
from bot.config import Settings
from segmentation.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOCKERFILES = [DEPLOY / "Dockerfile", DEPLOY / "Dockerfile.gpu"]
SETTINGS = set(Settings.model_fields)
# Variables the files may set that are not the bot's settings: Python, TensorFlow, XDG.
OTHER_ENV = {
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONUNBUFFERED",
    "TF_CPP_MIN_LOG_LEVEL",
    "XDG_CACHE_HOME",
}


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    text = dockerfile.read_text().replace("\\\n", " ")
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            rows.append((keyword.upper(), rest.strip()))
    return rows


def _assert_cli_accepts(argv: list[str]) -> None:
    assert argv[0] == "stickerbot", argv
    parser = build_parser([add_bot_command, add_worker_command])
    args = parser.parse_args(argv[1:])
    assert callable(args.handler)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_copies_existing_paths_and_sets_real_settings(dockerfile: Path) -> None:
    rows = _instructions(dockerfile)
    copies = [rest for keyword, rest in rows if keyword == "COPY" and "--from" not in rest]
    assert copies, "the image must copy the project in"
    for rest in copies:
        *sources, _dest = rest.split()
        for source in sources:
            assert (ROOT / source).exists(), f"{dockerfile.name} copies missing {source}"
    copied = {source for rest in copies for source in rest.split()[:-1]}
    assert {"pyproject.toml", "segmentation", "bot"} <= copied

    env_names = set()
    for keyword, rest in rows:
        if keyword == "ENV":
            env_names |= set(re.findall(r"(\w+)=", rest))
    assert env_names <= SETTINGS | OTHER_ENV, env_names - SETTINGS - OTHER_ENV
    assert {"DATA_DIR", "LISTEN_PORT"} <= env_names

    cmd = next(rest for keyword, rest in rows if keyword == "CMD")
    import json

    _assert_cli_accepts(json.loads(cmd))
    # The health check asks the port the image configures.
    port = re.search(r"LISTEN_PORT=(\d+)", dockerfile.read_text())
    assert port is not None
    assert f"127.0.0.1:{port.group(1)}/healthz" in dockerfile.read_text()


def test_compose_services_are_consistent() -> None:
    compose: dict[str, Any] = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"bot", "bot-gpu", "weights"} <= set(services)
    for name, service in services.items():
        build = service.get("build")
        if build:
            context = (DEPLOY / build["context"]).resolve()
            assert context == ROOT, name
            assert (context / build["dockerfile"]).is_file(), name
        for env_name in service.get("environment", {}):
            assert env_name in SETTINGS | OTHER_ENV, f"{name} sets unknown {env_name}"
        if "env_file" in service:
            assert (DEPLOY / service["env_file"]).resolve() == ROOT / ".env"
        for volume in service.get("volumes", []):
            assert volume.split(":")[0] in compose["volumes"], volume
        if "command" in service:
            _assert_cli_accepts(service["command"])
    bot = services["bot"]
    assert bot["environment"]["DATA_DIR"] in {v.split(":")[1] for v in bot["volumes"]}
    assert bot["environment"]["XDG_CACHE_HOME"] in {v.split(":")[1] for v in bot["volumes"]}
    # The weights job writes where the bot reads them.
    assert set(services["weights"]["volumes"]) <= set(bot["volumes"])


def test_systemd_unit_runs_the_bot() -> None:
    unit = (DEPLOY / "stickerbot.service").read_text()
    exec_start = re.search(r"^ExecStart=(.+)$", unit, re.MULTILINE)
    assert exec_start is not None
    argv = shlex.split(exec_start.group(1))
    _assert_cli_accepts(["stickerbot", *argv[1:]])
    assert Path(argv[0]).name == "stickerbot"
    for name in re.findall(r"^Environment=(\w+)=", unit, re.MULTILINE):
        assert name in SETTINGS | OTHER_ENV, name


def test_env_example_documents_every_setting() -> None:
    lines = (ROOT / ".env.example").read_text().splitlines()
    names = [line.split("=")[0] for line in lines if re.match(r"^[A-Z_]+=", line)]
    assert sorted(names) == sorted(SETTINGS)
    for index, line in enumerate(lines):
        if re.match(r"^[A-Z_]+=", line):
            assert lines[index - 1].startswith("#"), f"{line.split('=')[0]} has no comment"


def test_scale_out_compose_runs_redis_the_bot_and_scalable_workers() -> None:
    compose: dict[str, Any] = yaml.safe_load((DEPLOY / "docker-compose.scale.yml").read_text())
    services = compose["services"]
    assert {"redis", "bot", "worker", "worker-gpu"} <= set(services)
    redis = services["redis"]
    assert "--appendonly" in redis["command"]
    assert redis["command"][redis["command"].index("--appendonly") + 1] == "yes"
    assert any(v.split(":")[0] in compose["volumes"] for v in redis["volumes"])
    queue_url = services["bot"]["environment"]["QUEUE_URL"]
    assert queue_url.startswith("redis://redis:")
    for name in ("worker", "worker-gpu"):
        worker = services[name]
        argv = worker["command"]
        _assert_cli_accepts(argv)
        assert argv[1] == "worker"
        assert argv[argv.index("--queue") + 1] == queue_url
        # Scalable: no fixed name and no host port, which `--scale worker=4` would clash on.
        assert "container_name" not in worker
        assert "ports" not in worker
        for env_name in worker.get("environment", {}):
            assert env_name in SETTINGS | OTHER_ENV, f"{name} sets unknown {env_name}"
        for volume in worker.get("volumes", []):
            assert volume.split(":")[0] in compose["volumes"], volume
    assert services["worker-gpu"]["build"]["dockerfile"] == "deploy/Dockerfile.gpu"
    for env_name in services["bot"]["environment"]:
        assert env_name in SETTINGS | OTHER_ENV, env_name


def test_systemd_worker_template_runs_a_worker() -> None:
    unit = (DEPLOY / "stickerbot-worker@.service").read_text()
    exec_start = re.search(r"^ExecStart=(.+)$", unit, re.MULTILINE)
    assert exec_start is not None
    argv = shlex.split(exec_start.group(1).replace("${QUEUE_URL}", "redis://queue:6379/0"))
    assert Path(argv[0]).name == "stickerbot"
    _assert_cli_accepts(["stickerbot", *argv[1:]])
    assert argv[1] == "worker"
    assert "%i" in exec_start.group(1)  # the instance names the worker
