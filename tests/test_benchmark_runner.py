"""benchmarks/accuracy.py's task runner: order, concurrency limit and failure handling of ``run_all``."""

from __future__ import annotations

import importlib.util
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def accuracy():
    spec = importlib.util.spec_from_file_location("accuracy_bench", ROOT / "benchmarks" / "accuracy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Probe:
    """Tasks that record how many of them run at the same time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.peak = 0
        self.started: list[int] = []

    def task(self, k: int, fail: bool = False, seconds: float = 0.3):
        def run() -> int:
            with self.lock:
                self.started.append(k)
                self.running += 1
                self.peak = max(self.peak, self.running)
            time.sleep(seconds)
            with self.lock:
                self.running -= 1
            if fail:
                raise RuntimeError(f"task {k} failed")
            return k * k
        return run


@pytest.mark.parametrize(("parallel", "workers", "peak"), [(False, None, 1), (True, None, 5), (True, 2, 2),
                                                            (True, 1, 1)])
def test_run_all_order_and_concurrency(accuracy, parallel, workers, peak):
    probe = Probe()
    out = accuracy.run_all([probe.task(k) for k in range(5)], parallel, workers)
    assert out == [k * k for k in range(5)]  # results in task order, whatever order they finished in
    assert probe.peak == peak


def test_run_all_failure_drops_tasks_not_started(accuracy):
    probe = Probe()
    tasks = [probe.task(k, fail=k == 0, seconds=1.0) for k in range(6)]
    with pytest.raises(RuntimeError, match="task 0 failed"):
        accuracy.run_all(tasks, True, 2)  # returns when the tasks already running have ended
    # 0 and 1 run first, 2 and 3 take their places as they end; the runner notices the failure within 0.5 s,
    # long before 2 and 3 end, so 4 and 5 never start
    assert sorted(probe.started) == [0, 1, 2, 3]
