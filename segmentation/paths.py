"""Where the project keeps its files: the cache of weights and derived models.

Free of TensorFlow, so that backends which only read files (LiteRT, OpenVINO) find them
without importing it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

CACHE_APP_DIR: Final = "stickerbot"
# Keras 3 saves and loads weights-only files only under a ".weights.h5" name.
WEIGHTS_FILENAME: Final = "fcn8s_voc2012.weights.h5"


def default_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/stickerbot`` if that is set to an absolute path, else ``~/.cache/...``.

    The only place the default is computed; every ``cache_dir=None`` argument resolves here.
    """
    env = os.environ if environ is None else environ
    xdg = env.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / CACHE_APP_DIR


def cache_dir_or_default(cache_dir: Path | None) -> Path:
    return default_cache_dir() if cache_dir is None else Path(cache_dir).expanduser()


def weights_path(cache_dir: Path | None = None) -> Path:
    """Where the imported Keras weights live: ``<cache>/fcn8s_voc2012.weights.h5``."""
    return cache_dir_or_default(cache_dir) / WEIGHTS_FILENAME
