"""A separate process installing one file: ``python -m tests.segmentation.models.child MODE
URL DEST SHA256`` (MODE ``fetch`` or ``ensure``). Prints the sha256 it ends with on stdout;
what it says (waiting for a lock, downloading) goes to stderr, one line each, unbuffered."""

from __future__ import annotations

import dataclasses
import logging
import sys
from pathlib import Path

from segmentation.models.digests import file_sha256
from segmentation.models.download import fetch
from segmentation.models.registry import DEEPLAB_MNV2, REGISTRY
from segmentation.models.store import ensure


def main(mode: str, url: str, dest: str, sha256: str) -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(message)s")

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    if mode == "fetch":
        print(fetch([url], Path(dest), sha256=sha256).sha256, flush=True)
        return
    base = next(entry for entry in REGISTRY if entry.name == DEEPLAB_MNV2)
    entry = dataclasses.replace(base, urls=(url,), sha256=sha256)
    print(file_sha256(ensure(entry, cache_dir=Path(dest), emit=say)), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
