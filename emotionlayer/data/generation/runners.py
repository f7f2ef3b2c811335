"""Runners: feed planned rows to workers in this process, in local worker processes or in Ray actors.

Each runner yields :class:`~.workers.RowResult` objects as rows finish (in any order) and keeps only a few
rows in flight, so the caller can write each result as soon as it arrives.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from .plan import PlannedRow
from .workers import RowResult, RowWorker, WorkerConfig

_PROCESS_WORKER: RowWorker | None = None


def _init_process_worker(config: WorkerConfig) -> None:
    global _PROCESS_WORKER
    _PROCESS_WORKER = RowWorker(config)


def _run_in_process_worker(row: PlannedRow) -> RowResult:
    assert _PROCESS_WORKER is not None, "worker process was not initialised"
    return _PROCESS_WORKER(row)


def _bounded(submit, rows: Sequence[PlannedRow], window: int, wait_one) -> Iterator[RowResult]:
    """Keep at most ``window`` rows in flight; yield results as they finish."""
    pending: set = set()
    queue = iter(rows)
    exhausted = False
    while True:
        while not exhausted and len(pending) < window:
            try:
                pending.add(submit(next(queue)))
            except StopIteration:
                exhausted = True
        if not pending:
            return
        done, pending = wait_one(pending)
        yield from done


def run_serial(config: WorkerConfig, rows: Sequence[PlannedRow]) -> Iterator[RowResult]:
    """Generate ``rows`` one after the other in this process, in plan order."""
    worker = RowWorker(config)
    for row in rows:
        yield worker(row)


def run_processes(config: WorkerConfig, rows: Sequence[PlannedRow], workers: int) -> Iterator[RowResult]:
    """Generate ``rows`` in ``workers`` spawned local processes, each holding one :class:`RowWorker`."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    def wait_one(pending):
        done, rest = wait(pending, return_when=FIRST_COMPLETED)
        return [f.result() for f in done], rest

    # spawn: a fresh interpreter per worker, so no thread pools or model handles are inherited by fork.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_process_worker, initargs=(config,)) as pool:
        try:
            yield from _bounded(lambda row: pool.submit(_run_in_process_worker, row), rows, 2 * workers, wait_one)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def run_ray(config: WorkerConfig, rows: Sequence[PlannedRow], workers: int, address: str) -> Iterator[RowResult]:
    """Generate ``rows`` in ``workers`` Ray actors on the cluster at ``address`` (``local``: start one here).

    Raises:
        MissingDependencyError: Ray is not installed.
    """
    try:
        import ray
    except ImportError:
        from ...errors import MissingDependencyError

        raise MissingDependencyError("ray", "ray", purpose="generating with --ray") from None

    started = False
    if not ray.is_initialized():
        if address == "local":
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
        started = True
    try:
        actor_class = ray.remote(num_cpus=1)(_RayRowWorker)
        actors = [actor_class.remote(config) for _ in range(workers)]
        free = list(actors)
        owner: dict[Any, Any] = {}

        def submit(row: PlannedRow):
            actor = free.pop()
            ref = actor.run.remote(row)
            owner[ref] = actor
            return ref

        def wait_one(pending):
            done, rest = ray.wait(list(pending), num_returns=1)
            results = []
            for ref in done:
                free.append(owner.pop(ref))
                results.append(ray.get(ref))
            return results, set(rest)

        yield from _bounded(submit, rows, len(actors), wait_one)
    finally:
        if started:
            ray.shutdown()


class _RayRowWorker:
    """A Ray actor holding one :class:`RowWorker` (its backends load once per actor)."""

    def __init__(self, config: WorkerConfig) -> None:
        self.worker = RowWorker(config)

    def run(self, row: PlannedRow) -> RowResult:
        return self.worker(row)
