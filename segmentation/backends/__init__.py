"""The engines behind the :class:`~segmentation.segmenter.Segmenter` protocol, one module
each: :mod:`~segmentation.backends.keras` (TensorFlow), :mod:`~segmentation.backends.tflite`
(LiteRT, or TensorFlow's interpreter) and :mod:`~segmentation.backends.openvino`; plus what
they share without TensorFlow (:mod:`~segmentation.backends.probabilities`,
:mod:`~segmentation.backends.fcn8s_input`). :func:`segmentation.segmenter.load_segmenter`
chooses among them.
"""
