"""Load test of the whole bot: ``python -m bench.load`` (not a unit test; takes ~1-3 minutes).

The bot runs as its own process, as in production (the model in its child process), talking
to the Bot API emulator of the test suite, which runs here with the driver. Simulated users
send photos in bursts; then everything the emulator recorded is checked:

* every accepted photo answered exactly once (one PNG document and one sticker, or one
  explanation), every refused one told why (busy, or too many pending), none lost, none
  duplicated -- the exit status is 1 otherwise;
* peak RSS of the bot process and of its model process;
* event-loop lag of the bot (a ticker task in its loop, every 10 ms): p50 / p99 / max while
  jobs are in progress (target p99 < 100 ms);
* ``/healthz`` latency (p50 / p99) under load, probed from a thread of its own;
* throughput of the worker with a full queue (stickers/s), and its ratio to
  1 / (mean pipeline time: decode + model + CRF + compose + encode) measured in the same
  run -- 1.0 means the model never waits for the network.

The load, in order: one burst of ``QUEUE_MAX`` photos of a cat from distinct users, answered
before anything else is sent (the throughput window: nothing but the worker runs); then the
rest in bursts of ``--burst`` photos (1 in 10 with nothing to cut out), ``--gap`` seconds
apart, from a third of the users -- so several photos per user at once, and bursts that
meet a full queue.

    python -m bench.load [--photos 500] [--users 100] [--burst 100] [--gap 8]
                         [--model PATH.tflite] [--thread] [--json]

The default model is the fast colour stand-in of the tests (``tests.standins``); ``--model``
takes a real TFLite model, e.g. ``../shared/models/deeplabv3_mnv2_dm05_pascal_quant.tflite``.
"""

from __future__ import annotations

from bench.load.drive import drive
from bench.load.report import Report, render

__all__ = ["Report", "drive", "render"]
