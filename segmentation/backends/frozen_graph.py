"""A :class:`~segmentation.segmenter.Segmenter` over a TensorFlow 1 frozen graph with DeepLab's
exported interface: Google's DeepLabV3+ Xception-65 (``deeplabv3plus-xception65-voc``).

The graph takes ``ImageTensor:0`` (``[1, H, W, 3]`` uint8, longer side at most
:data:`CROP_SIZE`), pads it to ``CROP_SIZE x CROP_SIZE`` and returns ``SemanticPredictions:0``
(``[1, H, W]`` labels). The class scores the CRF needs are inside: the last bilinear resize
whose output has one channel per class (the logits at crop size; ``ResizeBilinear_2`` or
``_3`` depending on the backbone). It runs through TensorFlow's graph import
(``tf.compat.v1.wrap_function``), pruned to those tensors.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Final

import numpy as np

from segmentation.classes import NUM_CLASSES, VOC_CLASSES
from segmentation.errors import ModelUnavailable

logger = logging.getLogger(__name__)

INPUT_TENSOR: Final = "ImageTensor:0"
OUTPUT_TENSOR: Final = "SemanticPredictions:0"
# DeepLab's exported crop size: inputs are padded to this square.
CROP_SIZE: Final = 513
_LOGITS_OP: Final = "ResizeBilinear"


class FrozenGraphSegmenter:
    """DeepLab's frozen inference graph (see the module)."""

    backend = "tf-frozen-graph"
    classes = VOC_CLASSES
    precision = "fp32"
    # Every photo is resized to fit this input (see segmentation.tta).
    input_size = (CROP_SIZE, CROP_SIZE)

    def __init__(self, path: Path, *, num_classes: int = NUM_CLASSES) -> None:
        if not path.is_file():
            raise ModelUnavailable(f"frozen graph not found: {str(path)!r}")
        import tensorflow as tf
        from google.protobuf.message import DecodeError

        self.name = path.name
        self.device = "GPU:0" if tf.config.list_physical_devices("GPU") else "CPU"
        self._num_classes = num_classes
        graph_def = tf.compat.v1.GraphDef()
        try:
            graph_def.ParseFromString(path.read_bytes())
        except DecodeError as exc:
            raise ModelUnavailable(f"{str(path)!r} is not a TensorFlow graph: {exc}") from exc
        names = {node.name for node in graph_def.node}
        missing = [t for t in (INPUT_TENSOR, OUTPUT_TENSOR) if t.split(":")[0] not in names]
        if missing:
            raise ModelUnavailable(
                f"{path.name} lacks {' and '.join(missing)}: not a DeepLab frozen graph"
            )
        try:
            wrapped = tf.compat.v1.wrap_function(
                lambda: tf.compat.v1.import_graph_def(graph_def, name=""), []
            )
        except (ValueError, tf.errors.OpError) as exc:
            raise ModelUnavailable(f"cannot import {path.name}: {exc}") from exc
        graph = wrapped.graph
        logits = self._find_logits(graph)
        fetch = logits if logits is not None else graph.get_tensor_by_name(OUTPUT_TENSOR)
        self.has_logits = logits is not None
        self._run: Any = wrapped.prune(graph.get_tensor_by_name(INPUT_TENSOR), fetch)
        logger.info(
            "loaded %s: %s", path.name, f"logits {logits.name}" if logits is not None else "labels"
        )

    def _find_logits(self, graph: Any) -> Any:
        """The last bilinear resize with one channel per class, or None."""
        found = None
        for op in graph.get_operations():
            if op.type != _LOGITS_OP:
                continue
            shape = op.outputs[0].shape
            if shape.rank == 4 and shape[-1] == self._num_classes:
                found = op.outputs[0]
        return found

    def warmup(self) -> None:
        self.predict(np.zeros((CROP_SIZE, CROP_SIZE, 3), np.uint8))

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        import tensorflow as tf
        from PIL import Image

        from segmentation.segmenter import labels_to_probabilities, softmax

        h, w = rgb.shape[:2]
        scale = CROP_SIZE / max(h, w)
        fit_h, fit_w = max(1, round(h * scale)), max(1, round(w * scale))
        fitted = (
            rgb
            if (fit_h, fit_w) == (h, w)
            else np.asarray(Image.fromarray(rgb).resize((fit_w, fit_h), Image.Resampling.BILINEAR))
        )
        out = np.asarray(self._run(tf.constant(fitted[np.newaxis])))
        if not self.has_logits:  # labels [1, fit_h, fit_w]
            labels = Image.fromarray(out[0].astype(np.int32)).resize(
                (w, h), Image.Resampling.NEAREST
            )
            return labels_to_probabilities(np.asarray(labels, np.int64), self._num_classes)
        logits = out[:, :fit_h, :fit_w]
        if (fit_h, fit_w) != (h, w):
            logits = np.asarray(tf.image.resize(logits, (h, w), method="bilinear"))
        return softmax(logits[0])
