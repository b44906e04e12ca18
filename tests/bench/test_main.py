"""``python -m bench --isa``: the capped child's command line."""

from __future__ import annotations

from bench.__main__ import child_argv


def test_child_argv_drops_the_isa_flag_in_both_spellings_and_leaves_out_tflite() -> None:
    tail = ["--capped", "avx2", "--precisions", "", "--no-tflite-fp32"]
    assert child_argv(["--isa", "avx2", "--repeat", "5"], "avx2") == ["--repeat", "5", *tail]
    assert child_argv(["--repeat", "5", "--isa=avx2"], "avx2") == ["--repeat", "5", *tail]
    # A later --precisions wins in argparse: the child never builds TFLite engines.
    assert child_argv(["--precisions", "int8"], "avx2")[-3:] == ["--precisions", "", tail[-1]]
