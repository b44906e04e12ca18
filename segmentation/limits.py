"""Named limits of the pipeline, each with the reason it exists."""

from __future__ import annotations

# Telegram lets bots download files of at most 20 MB (getFile); nothing bigger can reach us,
# and refusing larger inputs up front keeps memory bounded for the CLI too.
MAX_IMAGE_BYTES = 20 * 1024 * 1024

# Decompression bombs: a few KB of PNG can claim gigapixels. 50 MP covers every phone camera
# (a 48 MP sensor is 8000x6000) while keeping the decoded RGB array under ~150 MB.
MAX_IMAGE_PIXELS = 50_000_000

# Telegram stickers: one side exactly 512 px, the other at most 512 px.
STICKER_SIDE = 512

# Telegram refuses static sticker files above 512 KB.
MAX_STICKER_PNG_BYTES = 512 * 1024

# The network sees the photo with its longer side at most this many pixels: FCN-8s's
# receptive field and the stickers' 512 px output make more resolution pure cost.
DEFAULT_INFERENCE_SIDE = 512
