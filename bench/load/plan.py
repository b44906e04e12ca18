"""The load: who sends what, in which bursts, and the photos they send."""

from __future__ import annotations

import itertools
from typing import Any

# The bot's admission limits during the run (the production defaults).
QUEUE_MAX = 100
PENDING_PER_USER = 3
# Users who open each later burst with more photos than they may have pending.
GREEDY_USERS = 3
# Seconds between the later bursts: the queue drains in part, so that they meet a queue with
# some room (and are partly refused as busy).
BURST_GAP_S = 8.0
# The photos: 640x480, like a phone photo Telegram has compressed.
PHOTO_SIZE = (640, 480)


def load_plan(photos: int, users: int, burst: int) -> list[list[tuple[int, str]]]:
    """Bursts of (user, kind): first up to QUEUE_MAX cats from distinct users; then mixed
    bursts that open with a few greedy users sending more than they may have pending at once,
    the rest of each burst going round all users."""
    ids = [1000 + i for i in range(users)]
    first = min(photos, QUEUE_MAX, users * PENDING_PER_USER)
    plan = [[(ids[i % users], "cat") for i in range(first)]]
    kinds = itertools.cycle(["cat", "empty"] + ["cat", "dog"] * 4)
    greedy = [user for user in ids[:GREEDY_USERS] for _ in range(PENDING_PER_USER + 2)]
    pool = itertools.cycle(ids)
    left = photos - first
    while left > 0:
        size = min(burst, left)
        users_of_burst = (greedy + [next(pool) for _ in range(size)])[:size]
        plan.append([(user, next(kinds)) for user in users_of_burst])
        left -= size
    return plan


def build_photos(real: bool) -> dict[str, bytes]:
    """For the stand-in: its red disk ("cat") and green square ("dog"); for a real model:
    real photos shipped with scikit-image (a cat, a person, a cup of coffee)."""
    if real:
        import io

        from PIL import Image
        from skimage import data

        def jpeg(rgb: Any) -> bytes:
            buffer = io.BytesIO()
            Image.fromarray(rgb).save(buffer, format="JPEG", quality=90)
            return buffer.getvalue()

        shipped = {"cat": "chelsea", "dog": "astronaut", "empty": "coffee"}
        return {kind: jpeg(getattr(data, name)()) for kind, name in shipped.items()}

    from tests.bot.botkit import photo

    return {
        "cat": photo(size=PHOTO_SIZE),
        "dog": photo(cat=True, dog=True, size=PHOTO_SIZE),
        "empty": photo(cat=False, size=PHOTO_SIZE),
    }
