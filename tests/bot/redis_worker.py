"""``python -m tests.bot.redis_worker``: ``stickerbot worker`` with the slow colour stand-in.

The real worker loop (:func:`bot.remote.serve`), only the model is the stand-in of
:mod:`tests.standins` (the real ``stickerbot worker`` loads a real model by path).
"""

from __future__ import annotations

import argparse
import asyncio
import functools

from bot.logs import setup_logging
from bot.remote import serve
from tests.standins import SlowColourSegmenter


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queue", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--lease", type=float, default=2.0)
    parser.add_argument("--hold", type=float, default=60.0)
    parser.add_argument("--service-ms", type=float, default=50.0)
    parser.add_argument("--max-attempts", type=int, default=3)
    args = parser.parse_args()
    setup_logging("INFO")
    asyncio.run(
        serve(
            args.queue,
            functools.partial(SlowColourSegmenter, args.service_ms / 1000),
            isolate=False,
            concurrency=1,
            name=args.name,
            lease_s=args.lease,
            hold_s=args.hold,
            max_attempts=args.max_attempts,
            max_bytes=20 * 1024 * 1024,
            grace_s=5.0,
        )
    )


if __name__ == "__main__":
    main()
