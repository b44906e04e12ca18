"""Run a command and report its wall time and peak RSS: ``python -m bench.launch CMD...``.

Prints the command's own output, then one JSON line: ``launched_at`` (``time.time()`` just
before the start), ``wall_s`` (start to exit), ``peak_rss_mb`` (``ru_maxrss`` from
``os.wait4``, i.e. ``getrusage`` of that one child) and ``returncode``.

Why a launcher: a child's ``ru_maxrss`` starts at its parent's size when it was forked (Linux
keeps the high-water mark across ``exec``), so a command started straight from the benchmark
(gigabytes of TensorFlow and models) would report the benchmark's size. Started from this
small process, it reports its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time


def main(argv: list[str]) -> int:
    launched_at = time.time()
    start = time.perf_counter()
    # Files, not pipes: reading pipes to the end would need a wait that reaps the child
    # before os.wait4 could collect its usage.
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        child = subprocess.Popen(argv, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        output, error = out.read(), err.read()
    code = child.returncode = os.waitstatus_to_exitcode(status)
    sys.stdout.write(output.decode(errors="replace"))
    report = {
        "launched_at": launched_at,
        "wall_s": wall,
        "peak_rss_mb": usage.ru_maxrss / 1024.0,
        "returncode": code,
    }
    if code:
        report["stderr"] = error.decode(errors="replace")[-500:]
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
