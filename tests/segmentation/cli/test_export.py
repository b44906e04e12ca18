"""``stickerbot export``: TFLite exports that ``make --precision`` then runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from segmentation import cli


def test_export_needs_a_known_precision_and_the_weights(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        cli.main(["export", "--precision", "int4"])
    assert "invalid choice: 'int4'" in capsys.readouterr().err
    code = cli.main(["export", "--precision", "int8-dynamic", "--cache-dir", str(tmp_path)])
    assert code == cli.EXIT_MODEL
    assert "stickerbot weights download" in capsys.readouterr().err


def test_export_writes_files_that_make_uses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`export` converts the cached weights per bucket; `make --precision` then runs them."""
    from segmentation import export
    from segmentation.fcn8s import Fcn8sConfig, build_fcn8s
    from tests.segmentation.checkpoints import TINY_FC_UNITS, TINY_WIDTHS

    tiny = build_fcn8s(config=Fcn8sConfig(widths=TINY_WIDTHS, fc_units=TINY_FC_UNITS))
    monkeypatch.setattr("segmentation.weights.load_fcn8s", lambda **_: tiny)
    real_export = export.export
    monkeypatch.setattr(
        export, "export", lambda *a, **k: real_export(*a, **{**k, "buckets": [(64, 96)]})
    )
    code = cli.main(["export", "--precision", "int8-dynamic", "--cache-dir", str(tmp_path)])
    assert code == 0
    written = tmp_path / "fcn8s_voc2012.int8-dynamic.64x96.tflite"
    assert f"wrote:    {written}" in capsys.readouterr().out
    assert written.stat().st_size > 0
