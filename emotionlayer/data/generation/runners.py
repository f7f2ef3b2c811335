"""Runners: feed planned rows to workers in this process, in local worker processes or in Ray actors.

Each runner yields :class:`~.workers.RowResult` objects as rows finish (in any order) and keeps only a few
rows in flight, so the caller can write each result as soon as it arrives.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from ...parallel import run_in_processes, run_on_ray
from .plan import PlannedRow
from .workers import RowResult, RowWorker, WorkerConfig

_PROCESS_WORKER: RowWorker | None = None


def _init_process_worker(config: WorkerConfig) -> None:
    global _PROCESS_WORKER
    _PROCESS_WORKER = RowWorker(config)


def _run_in_process_worker(row: PlannedRow) -> RowResult:
    assert _PROCESS_WORKER is not None, "worker process was not initialised"
    return _PROCESS_WORKER(row)


def run_serial(config: WorkerConfig, rows: Sequence[PlannedRow]) -> Iterator[RowResult]:
    """Generate ``rows`` one after the other in this process, in plan order."""
    worker = RowWorker(config)
    for row in rows:
        yield worker(row)


def run_processes(config: WorkerConfig, rows: Sequence[PlannedRow], workers: int) -> Iterator[RowResult]:
    """Generate ``rows`` in ``workers`` spawned local processes, each holding one :class:`RowWorker`."""
    yield from run_in_processes(_init_process_worker, (config,), _run_in_process_worker, rows, workers)


def run_ray(config: WorkerConfig, rows: Sequence[PlannedRow], workers: int, address: str) -> Iterator[RowResult]:
    """Generate ``rows`` in ``workers`` Ray actors on the cluster at ``address`` (``local``: start one here).

    Raises:
        MissingDependencyError: Ray is not installed.
    """
    yield from run_on_ray(_RayRowWorker, (config,), rows, workers, address, purpose="generating with --ray")


class _RayRowWorker:
    """A Ray actor holding one :class:`RowWorker` (its backends load once per actor)."""

    def __init__(self, config: WorkerConfig) -> None:
        self.worker = RowWorker(config)

    def run(self, row: PlannedRow) -> RowResult:
        return self.worker(row)
