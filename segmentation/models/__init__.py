"""Models by name: the registry (what exists), the cache (what is installed, verified),
first-use download (progress, resume, sha256, atomic install, mirror) and the resolution of
``--model`` / ``MODEL`` (``auto``, a registry name or a path) to a file and its backend.

To fetch any other file the same way (e.g. pretrained backbone weights for training),
describe it as a :class:`ModelEntry` and call :func:`ensure` (installed path, downloaded on
first use; ``sha256=None`` trusts the first download), or call :func:`fetch` directly.
Nothing here imports TensorFlow.
"""

from segmentation.models.download import ChecksumMismatch, fetch, sha256_of
from segmentation.models.progress import BarProgress, LineProgress, Progress, progress_for
from segmentation.models.registry import REGISTRY, ModelEntry, lookup
from segmentation.models.resolve import ResolvedModel, open_model, resolve_model
from segmentation.models.store import default_cache_dir, ensure, installed_path, is_installed

__all__ = [
    "REGISTRY",
    "BarProgress",
    "ChecksumMismatch",
    "LineProgress",
    "ModelEntry",
    "Progress",
    "ResolvedModel",
    "default_cache_dir",
    "ensure",
    "fetch",
    "installed_path",
    "is_installed",
    "lookup",
    "open_model",
    "progress_for",
    "resolve_model",
    "sha256_of",
]
