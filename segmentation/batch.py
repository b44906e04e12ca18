"""Many photos, one model: what ``stickerbot make A.jpg B.jpg DIR/`` runs.

The model is loaded once by the caller. Each photo gets a :class:`Result` (made, no object,
unreadable), in input order, and a bad photo never stops the run. With ``jobs > 1`` the
second half of the pipeline (:func:`~segmentation.pipeline.finish`: CRF, compose, encode)
runs in that many worker processes while this process decodes the next photos and runs the
model on them (:func:`~segmentation.pipeline.predict`): only plain arrays cross.
"""

from __future__ import annotations

import functools
import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from segmentation.errors import ImageTooLarge, InvalidImage, NoObjectFound
from segmentation.options import StickerOptions
from segmentation.pipeline import Sticker, finish, predict
from segmentation.segmenter import Segmenter

# What a folder contributes: the image files directly inside it, by name.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"})


class Status(StrEnum):
    MADE = "made"
    NO_OBJECT = "no_object"
    UNREADABLE = "unreadable"


@dataclass(frozen=True, slots=True)
class Result:
    """One photo's outcome; ``sticker`` when made, ``error`` (the message) otherwise."""

    path: Path
    status: Status
    sticker: Sticker | None = None
    error: str | None = None


def expand(specs: Iterable[Path], *, skip: Callable[[Path], bool] | None = None) -> list[Path]:
    """Files as given, folders as the image files directly inside them (sorted by name),
    less those ``skip`` names (a caller's own outputs). Raises :class:`FileNotFoundError` for
    a path that is neither."""
    photos: list[Path] = []
    for spec in specs:
        if spec.is_dir():
            photos += sorted(
                p
                for p in spec.iterdir()
                if p.is_file()
                and p.suffix.lower() in IMAGE_SUFFIXES
                and not (skip is not None and skip(p))
            )
        elif spec.is_file():
            photos.append(spec)
        else:
            raise FileNotFoundError(f"no such file or folder: {str(spec)!r}")
    return photos


def output_names(photos: Iterable[Path], directory: Path) -> dict[Path, Path]:
    """Each photo's sticker in ``directory``, named after it (``cat.jpg`` -> ``cat.png``;
    a second ``cat.*`` gets ``cat-2.png``)."""
    names: dict[Path, Path] = {}
    taken: set[str] = set()
    for photo in photos:
        stem, n = photo.stem, 1
        while (name := stem if n == 1 else f"{stem}-{n}") in taken:
            n += 1
        taken.add(name)
        names[photo] = directory / f"{name}.png"
    return names


def run(
    photos: Iterable[Path],
    segmenter: Segmenter,
    options: StickerOptions,
    *,
    jobs: int = 1,
) -> Iterator[Result]:
    """A :class:`Result` per photo, in order, as each is done."""
    if jobs <= 1:
        for photo in photos:
            yield _outcome(photo, functools.partial(_make, photo, segmenter, options))
        return
    # spawn: a fork of a process running TensorFlow's thread pools may deadlock.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        # Enough predictions ahead to keep every worker busy, no more (each holds a photo).
        pending: deque[tuple[Path, Future[Sticker] | Result]] = deque()
        for photo in photos:
            try:
                prediction = predict(photo.read_bytes(), segmenter, options)
            except Exception as exc:
                pending.append((photo, _outcome(photo, _raiser(exc))))
            else:
                pending.append((photo, pool.submit(finish, prediction, options)))
            while len(pending) > jobs:
                yield _collect(*pending.popleft())
        while pending:
            yield _collect(*pending.popleft())


def _make(photo: Path, segmenter: Segmenter, options: StickerOptions) -> Sticker:
    return finish(predict(photo.read_bytes(), segmenter, options), options)


def _collect(photo: Path, job: Future[Sticker] | Result) -> Result:
    return job if isinstance(job, Result) else _outcome(photo, job.result)


def _raiser(exc: Exception) -> Callable[[], Sticker]:
    def again() -> Sticker:
        raise exc

    return again


def _outcome(photo: Path, make: Callable[[], Sticker]) -> Result:
    """Run ``make``; the errors a photo can cause become its result, others propagate."""
    try:
        return Result(photo, Status.MADE, sticker=make())
    except NoObjectFound as exc:
        return Result(photo, Status.NO_OBJECT, error=str(exc))
    except (InvalidImage, ImageTooLarge) as exc:
        return Result(photo, Status.UNREADABLE, error=str(exc))
    except OSError as exc:
        return Result(photo, Status.UNREADABLE, error=f"cannot read it: {exc.strerror or exc}")
