"""What the driver measures from outside the bot while it runs: ``/healthz`` latency and the
peak resident memory of the bot's process tree, each from a thread of its own."""

from __future__ import annotations

import http.client
import threading
import time
from pathlib import Path

HEALTHZ_EVERY_S = 0.05
RSS_EVERY_S = 0.25


class HealthProbe(threading.Thread):
    """GET /healthz every 50 ms from a thread of its own (the driver's loop is busy sending)."""

    def __init__(self, port: int) -> None:
        super().__init__(name="healthz", daemon=True)
        self.port = port
        self.latencies_ms: list[float] = []
        self.failures = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(HEALTHZ_EVERY_S):
            started = time.perf_counter()
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                connection.request("GET", "/healthz")
                status = connection.getresponse().status
                connection.close()
            except OSError:
                self.failures += 1
                continue
            if status != 200:
                self.failures += 1
            self.latencies_ms.append((time.perf_counter() - started) * 1000)


class RssProbe(threading.Thread):
    """Peak resident memory of a process and its descendants (from /proc, Linux)."""

    def __init__(self, pid: int) -> None:
        super().__init__(name="rss", daemon=True)
        self.pid = pid
        self.peak_kb: dict[int, int] = {}
        self.peak_total_kb = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(RSS_EVERY_S):
            self.sample()

    def sample(self) -> None:
        total = 0
        for pid in self._tree():
            status = _proc_status(pid)
            if not status:
                continue
            self.peak_kb[pid] = max(self.peak_kb.get(pid, 0), status.get("VmHWM", 0))
            total += status.get("VmRSS", 0)
        self.peak_total_kb = max(self.peak_total_kb, total)

    def _tree(self) -> list[int]:
        parents: dict[int, int] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                parents[int(entry.name)] = int(fields[1])
        tree, frontier = [self.pid], [self.pid]
        while frontier:
            frontier = [pid for pid, parent in parents.items() if parent in frontier]
            tree += frontier
        return tree


def _proc_status(pid: int) -> dict[str, int]:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    values = {}
    for line in lines:
        name, _, rest = line.partition(":")
        if name in ("VmHWM", "VmRSS"):
            values[name] = int(rest.split()[0])
    return values
