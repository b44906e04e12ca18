"""``python -m bench.load``: see :mod:`bench.load`."""

from bench.load import main

raise SystemExit(main())
