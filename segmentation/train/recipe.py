"""The seeds' recipe in numbers: the defaults of ``stickerbot train`` (no heavy imports)."""

from __future__ import annotations

from typing import Final

# The seeds trained each stage for a hundred thousand iterations at batch size one.
RECIPE_STEPS: Final = 100_000
# Adam's learning rate. The seeds' one-photo post uses 1e-4; for the long runs from ImageNet
# weights at batch size one we default to a tenth of it (a choice of ours, see the README).
DEFAULT_LEARNING_RATE: Final = 1e-5
# Side of the square training crop; sides must be multiples of the network stride (32).
DEFAULT_CROP: Final = 512
# Random rescaling of each training photo (and its mask) before the crop.
DEFAULT_SCALES: Final = (0.5, 2.0)
# Initialisation keywords of ``--init`` besides a path.
INIT_VGG16: Final = "vgg16"
INIT_SEED_FCN8S: Final = "fcn8s-voc"
INIT_NONE: Final = "none"
