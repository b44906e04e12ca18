"""Fixtures shared by the backend tests: a tiny FCN-8s and its OpenVINO IR."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def tiny_model() -> object:
    """A small FCN-8s with He-normal weights whose argmax varies over a photo."""
    import keras

    from segmentation.fcn8s import Fcn8sConfig, build_fcn8s
    from tests.segmentation.checkpoints import TINY_FC_UNITS, TINY_WIDTHS

    keras.utils.set_random_seed(3)
    return build_fcn8s(
        config=Fcn8sConfig(widths=TINY_WIDTHS, fc_units=TINY_FC_UNITS),
        kernel_initializer="he_normal",
    )


@pytest.fixture(scope="module")
def tiny_ir(tiny_model: object, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``tiny_model`` converted to OpenVINO's IR (skipped where OpenVINO is not installed)."""
    pytest.importorskip("openvino", reason="the openvino extra is not installed")
    from segmentation.backends import openvino as ov_backend

    return ov_backend.convert_fcn8s(tiny_model, tmp_path_factory.mktemp("ir") / "tiny.xml")  # type: ignore[arg-type]
