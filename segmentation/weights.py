"""FCN-8s weights: download the seed's TF-Slim checkpoint, import it into Keras, load it.

The seed (warmspringwinds/tf-image-segmentation) published ``model_fcn8s_final.ckpt``
(63.65 mIoU on PASCAL VOC 2012 restricted val), saved by ``tf.train.Saver`` from the graph
built under ``tf.variable_scope("fcn_8s")``. :func:`import_checkpoint` reads it by variable name
with ``tf.train.load_checkpoint``, checks every name and shape against :data:`CHECKPOINT_SPEC`,
assigns it into :func:`segmentation.fcn8s.build_fcn8s` and saves a Keras ``.weights.h5``;
:func:`load_fcn8s` builds the model and loads that file. Everything lives in one cache folder,
:func:`default_cache_dir` (``$XDG_CACHE_HOME/stickerbot``, else ``~/.cache/stickerbot``)::

    <cache>/fcn8s_voc2012.weights.h5                      the imported weights
    <cache>/downloads/fcn_8s.tar.gz                       the downloaded archive
    <cache>/downloads/fcn_8s_extracted/.../model_fcn8s_final.ckpt*   the checkpoint
"""

from __future__ import annotations

import logging
import os
import re
import tarfile
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import keras
import numpy as np
import tensorflow as tf

from segmentation.classes import NUM_CLASSES
from segmentation.errors import ModelUnavailable
from segmentation.fcn8s import SEED_CONFIG, Fcn8sConfig, build_fcn8s, conv_specs
from segmentation.models.download import ChecksumMismatch, fetch
from segmentation.models.progress import Progress
from segmentation.models.registry import FCN8S_ARCHIVE_URL
from segmentation.models.store import (
    FCN8S_WEIGHTS_FILENAME,
    Emit,
    cache_root,
    recorded_hash,
    trust_on_first_use,
)
from segmentation.models.store import (
    default_cache_dir as default_cache_dir,
)

logger = logging.getLogger(__name__)

FCN8S_CHECKPOINT_URL: Final = FCN8S_ARCHIVE_URL
# File name of the archive in the cache (the URL's own name, without Dropbox's query string),
# extracted into EXTRACTED_DIR beside it.
ARCHIVE_NAME: Final = "fcn_8s.tar.gz"
EXTRACTED_DIR: Final = "fcn_8s_extracted"
CHECKPOINT_NAME: Final = "model_fcn8s_final.ckpt"
WEIGHTS_FILENAME: Final = FCN8S_WEIGHTS_FILENAME
DOWNLOADS_SUBDIR: Final = "downloads"
# The seed built its graph under tf.variable_scope("fcn_8s"); a re-saved checkpoint may lack it.
SCOPE: Final = "fcn_8s"

# Initializer of models whose weights are loaded right away: skips seconds of random draws.
_OVERWRITTEN: Final = "zeros"
# Errors list this many variables, then a count: a wrong-size checkpoint mismatches all 36.
_LISTED: Final = 6
_VGG_CONV = re.compile(r"conv(\d+)_\d+")
_FC_LAYERS: Final = ("fc6", "fc7", "fc8")


# --- names ----------------------------------------------------------------------------------


def _scope_of(layer: str) -> str:
    """The seed's variable scope (below ``fcn_8s/``) of a Keras layer of the FCN-8s model."""
    match = _VGG_CONV.fullmatch(layer)
    if match:
        return f"vgg_16/conv{match.group(1)}/{layer}"
    if layer in _FC_LAYERS:
        return f"vgg_16/{layer}"
    return layer  # pool4_fc, pool3_fc: created directly under fcn_8s/


def _variables(
    num_classes: int, config: Fcn8sConfig
) -> Iterator[tuple[str, tuple[tuple[str, tuple[int, ...]], ...]]]:
    """(Keras layer, ((checkpoint name, shape) of its kernel, then of its bias))."""
    for spec in conv_specs(num_classes, config):
        scope = f"{SCOPE}/{_scope_of(spec.name)}"
        yield (
            spec.name,
            ((f"{scope}/weights", spec.kernel_shape), (f"{scope}/biases", spec.bias_shape)),
        )


def checkpoint_spec(
    num_classes: int = NUM_CLASSES, config: Fcn8sConfig = SEED_CONFIG
) -> dict[str, tuple[int, ...]]:
    """Checkpoint variable name -> shape for a model of that size (see :data:`CHECKPOINT_SPEC`)."""
    return {name: shape for _, pair in _variables(num_classes, config) for name, shape in pair}


# The seed checkpoint's variables, e.g. "fcn_8s/vgg_16/conv1/conv1_1/weights": (3, 3, 3, 64),
# derived from the model's layer table (segmentation.fcn8s.conv_specs).
CHECKPOINT_SPEC: Final[Mapping[str, tuple[int, ...]]] = MappingProxyType(checkpoint_spec())


# --- paths ----------------------------------------------------------------------------------


def _cache(cache_dir: Path | None) -> Path:
    return cache_root(cache_dir)


def weights_path(cache_dir: Path | None = None) -> Path:
    """Where the imported Keras weights live: ``<cache>/fcn8s_voc2012.weights.h5``."""
    return _cache(cache_dir) / WEIGHTS_FILENAME


def _how_to_get_weights(cache_dir: Path | None) -> str:
    return (
        "get them with `stickerbot weights download` (fetches the seed's checkpoint and imports "
        f"it into {weights_path(cache_dir)}), or `stickerbot weights import CKPT_PREFIX` for a "
        f"{CHECKPOINT_NAME} you already have, or use a TFLite model instead: "
        "`--model PATH.tflite`"
    )


def _manual_download(url: str, cache_dir: Path) -> str:
    extracted = cache_dir / DOWNLOADS_SUBDIR / EXTRACTED_DIR
    return (
        f"to fetch it by hand, download {url} on a machine with internet access, "
        f"extract it (`tar -xzf {ARCHIVE_NAME}`) and either put the extracted files into "
        f"{extracted} and run `stickerbot weights download` again, or run "
        f"`stickerbot weights import PATH/{CHECKPOINT_NAME}` "
        "(the prefix, without .index / .data-*)"
    )


def _brief(text: str, limit: int = 300) -> str:
    """The first lines of a (possibly huge, tensor-dumping) library message, on one line."""
    flat = " ".join(line.strip() for line in text.splitlines() if line.strip())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


# --- checkpoint import ----------------------------------------------------------------------


def _read_checkpoint(prefix: str) -> Any:
    try:
        return tf.train.load_checkpoint(prefix)
    except (ValueError, tf.errors.OpError) as exc:
        raise ModelUnavailable(
            f"cannot read a TensorFlow checkpoint at {prefix!r}: {exc}; pass the checkpoint "
            f"prefix, e.g. .../{CHECKPOINT_NAME} (not its .index or .data-* files)"
        ) from exc


def _listing(items: list[str], sep: str) -> str:
    """The first :data:`_LISTED` items joined, then how many more."""
    more = f"{sep}... and {len(items) - _LISTED} more" if len(items) > _LISTED else ""
    return sep.join(items[:_LISTED]) + more


def _match_names(
    available: Mapping[str, list[int]], expected: Mapping[str, tuple[int, ...]], prefix: str
) -> dict[str, str]:
    """Expected name -> name in the checkpoint (with or without ``fcn_8s/``), or refuse."""
    found: dict[str, str] = {}
    missing: list[str] = []
    misshaped: list[str] = []
    for name, shape in expected.items():
        bare = name.removeprefix(f"{SCOPE}/")
        actual = next((n for n in (name, bare) if n in available), None)
        if actual is None:
            missing.append(name)
        elif tuple(available[actual]) != shape:
            misshaped.append(
                f"{actual} has shape {list(available[actual])}, expected {list(shape)}"
            )
        else:
            found[name] = actual
    if missing or misshaped:
        problems = []
        if misshaped:
            problems.append(f"{len(misshaped)} mis-shaped: " + _listing(misshaped, "; "))
        if missing:
            problems.append(f"missing {len(missing)} variable(s): " + _listing(missing, ", "))
        raise ModelUnavailable(
            f"{prefix} is not the seed's FCN-8s checkpoint: "
            + "; ".join(problems)
            + f" (the seed's is {CHECKPOINT_NAME} inside {FCN8S_CHECKPOINT_URL})"
        )
    return found


def import_checkpoint(
    ckpt_prefix: str | Path,
    dest: Path | None = None,
    *,
    num_classes: int = NUM_CLASSES,
    config: Fcn8sConfig = SEED_CONFIG,
) -> Path:
    """Convert the seed's TF-Slim checkpoint to Keras weights at ``dest``; return ``dest``.

    ``ckpt_prefix`` is the checkpoint prefix (``.../model_fcn8s_final.ckpt``, V1 or V2 format).
    Every variable of :data:`CHECKPOINT_SPEC` must be there with its shape, named with or
    without the leading ``fcn_8s/``; other variables (optimizer slots, step) are ignored.
    ``dest`` defaults to :func:`weights_path` and must end in ``.weights.h5``; it is replaced
    atomically. Raises :class:`ModelUnavailable` naming what is missing or mis-shaped.
    """
    prefix = os.fspath(ckpt_prefix)
    dest = weights_path() if dest is None else Path(dest)
    if not dest.name.endswith(".weights.h5"):
        raise ValueError(f"Keras weights files must end in .weights.h5, got {dest}")
    logger.info("reading checkpoint %s", prefix)
    reader = _read_checkpoint(prefix)
    expected = checkpoint_spec(num_classes, config)
    names = _match_names(reader.get_variable_to_shape_map(), expected, prefix)
    logger.info("checkpoint has all %d FCN-8s variables; building the model", len(names))
    model = build_fcn8s(num_classes, config=config, kernel_initializer=_OVERWRITTEN)
    layers = list(_variables(num_classes, config))
    for step, (layer_name, pair) in enumerate(layers, start=1):
        values = [np.asarray(reader.get_tensor(names[name]), dtype=np.float32) for name, _ in pair]
        model.get_layer(layer_name).set_weights(values)
        logger.info("[%d/%d] %s <- %s", step, len(layers), layer_name, names[pair[0][0]])
    save_weights_atomically(model, dest)
    logger.info("saved Keras weights to %s", dest)
    return dest


def save_weights_atomically(model: keras.Model, dest: Path) -> None:
    """``model.save_weights(dest)`` through a temporary file: ``dest`` is whole or absent."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(f".{dest.name.removesuffix('.weights.h5')}.{os.getpid()}.weights.h5")
    try:
        model.save_weights(partial)
        partial.replace(dest)
    finally:
        partial.unlink(missing_ok=True)


# --- download -------------------------------------------------------------------------------


def _find_checkpoint(root: Path) -> Path | None:
    """The prefix of ``model_fcn8s_final.ckpt`` (V2 ``.index`` or V1 file) under ``root``.

    Falls back to the only other V2 checkpoint there, in case an archive renames it.
    """
    if not root.is_dir():
        return None
    for index in sorted(root.rglob(f"{CHECKPOINT_NAME}.index")):
        return index.with_suffix("")
    for v1_file in sorted(root.rglob(CHECKPOINT_NAME)):
        if v1_file.is_file():
            return v1_file
    others = sorted(root.rglob("*.index"))
    if len(others) == 1:
        logger.warning("no %s under %s; using %s", CHECKPOINT_NAME, root, others[0])
        return others[0].with_suffix("")
    return None


def download_checkpoint(
    cache_dir: Path | None = None,
    *,
    url: str = FCN8S_CHECKPOINT_URL,
    mirror: str | None = None,
    progress: Progress | None = None,
    emit: Emit | None = None,
) -> Path:
    """Download and extract the seed's checkpoint into ``<cache>/downloads``; return its prefix.

    The archive comes through :func:`segmentation.models.download.fetch` (progress, resume,
    atomic install; ``mirror`` replaces ``url``). No hash is published for it: the first
    download's sha256 is recorded (trust on first use, said through ``emit``) and a later
    download must match it. An already extracted checkpoint is reused without touching the
    network. Raises :class:`ModelUnavailable` explaining how to fetch it by hand when the
    download or the archive fails.
    """
    say = emit or (lambda line: logger.warning("%s", line))
    cache = _cache(cache_dir)
    downloads = cache / DOWNLOADS_SUBDIR
    cached = _find_checkpoint(downloads / EXTRACTED_DIR)
    if cached is not None:
        logger.info("using the checkpoint already in the cache: %s", cached)
        return cached
    archive = downloads / ARCHIVE_NAME
    downloads.mkdir(parents=True, exist_ok=True)
    pinned = recorded_hash(archive, cache)
    if not archive.is_file():
        logger.info("downloading %s into %s", url, downloads)
        try:
            fetched = fetch([url], archive, sha256=pinned, mirror=mirror, progress=progress)
        except ChecksumMismatch:
            raise
        except ModelUnavailable as exc:
            raise ModelUnavailable(
                f"could not download the FCN-8s checkpoint: {exc}; {_manual_download(url, cache)}"
            ) from exc
        pinned = pinned or ""  # recorded below, once the archive proves to hold a checkpoint
        digest = fetched.sha256
    extracted = downloads / EXTRACTED_DIR
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(extracted, filter="data")
    except (tarfile.TarError, OSError) as exc:
        # Most likely an error page saved as the archive: drop it so the next try downloads.
        archive.unlink(missing_ok=True)
        raise ModelUnavailable(
            f"cannot extract {archive} downloaded from {url}: {exc}; {_manual_download(url, cache)}"
        ) from exc
    prefix = _find_checkpoint(extracted)
    if prefix is None:
        archive.unlink(missing_ok=True)
        raise ModelUnavailable(
            f"the archive downloaded from {url} contains no {CHECKPOINT_NAME}; "
            f"{_manual_download(url, cache)}"
        )
    if pinned == "":
        trust_on_first_use(archive, digest, cache, say, "fcn8s-voc checkpoint")
    logger.info("checkpoint extracted: %s", prefix)
    return prefix


def install_fcn8s(
    cache_dir: Path | None = None,
    *,
    url: str = FCN8S_CHECKPOINT_URL,
    mirror: str | None = None,
    progress: Progress | None = None,
    emit: Emit | None = None,
) -> Path:
    """Download (or reuse) the seed's checkpoint and import it: :func:`weights_path`."""
    prefix = download_checkpoint(cache_dir, url=url, mirror=mirror, progress=progress, emit=emit)
    return import_checkpoint(prefix, weights_path(cache_dir))


# --- loading --------------------------------------------------------------------------------


def load_fcn8s(
    weights: Path | None = None,
    cache_dir: Path | None = None,
    *,
    num_classes: int = NUM_CLASSES,
    config: Fcn8sConfig = SEED_CONFIG,
) -> keras.Model:
    """FCN-8s with imported weights (``weights``, else :func:`weights_path` of ``cache_dir``).

    Raises :class:`ModelUnavailable` saying how to get the weights when the file is missing
    or does not fit the model.
    """
    path = weights_path(cache_dir) if weights is None else Path(weights)
    if not path.is_file():
        raise ModelUnavailable(f"no FCN-8s weights at {path}; {_how_to_get_weights(cache_dir)}")
    model = build_fcn8s(num_classes, config=config, kernel_initializer=_OVERWRITTEN)
    # Keras warns (UserWarning) about each object it skips before it raises, and a load that
    # only warned would leave those layers at zero: either way the file is refused.
    error: Exception | None = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model.load_weights(path)
        except (OSError, ValueError, KeyError) as exc:
            error = exc
    skipped = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    if error is not None or skipped:
        reason = _brief(str(error) if error is not None else skipped[0])
        raise ModelUnavailable(
            f"cannot load FCN-8s weights from {path}: {reason}; {_how_to_get_weights(cache_dir)}"
        ) from error
    for warning in caught:
        logger.debug("while loading %s: %s", path, warning.message)
    logger.info("loaded FCN-8s weights from %s", path)
    return model
