"""One runner for many independent tasks: in this process, on worker processes or on Ray actors.

Dataset generation and batch evaluation both hand out tasks (rows, clips) to workers that each load their
models once. :func:`run_tasks` is the one place that schedules them, keeps a bounded number in flight,
shows the progress bar and cancels what is pending when the caller stops early; the workers themselves are
plain callables built by a factory the caller gives::

    from functools import partial

    with run_tasks(partial(RowWorker, config), rows, backend="processes", workers=2) as results:
        for result in results:
            ...

Scaling past one machine is Ray's job: the ``ray`` backend starts a local cluster or joins one at an
address.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError, MissingDependencyError

#: The ways :func:`run_tasks` can run tasks.
BACKENDS = ("serial", "processes", "ray")


def pick_backend(workers: int, ray_address: str | None = None) -> str:
    """``ray`` when a Ray address is given, ``processes`` for more than one worker, else ``serial``."""
    if ray_address:
        return "ray"
    return "processes" if workers > 1 else "serial"


@dataclass(frozen=True)
class Progress:
    """A progress bar over a run (tqdm, on stderr).

    Attributes:
        total: Units the whole job has (done before this run included).
        desc: The bar's label.
        unit: What a unit is (``row``, ``clip``).
        initial: Units already done before this run.
        advance: How many units a result completes (default: one per result), e.g. a clip is done when the
            last of its systems has answered it.
    """

    total: int
    desc: str = ""
    unit: str = "it"
    initial: int = 0
    advance: Callable[[Any], int] | None = None


class TaskRun(Iterator[Any]):
    """The results of :func:`run_tasks`, as an iterator that can be closed.

    Leaving a ``with`` block (or calling :meth:`close`) before the last result cancels the tasks not yet
    started, stops the worker processes or the Ray cluster this run started, closes a serial worker and
    the progress bar.
    """

    def __init__(self, results: Iterator[Any]) -> None:
        self._results = results

    def __iter__(self) -> TaskRun:
        return self

    def __next__(self) -> Any:
        return next(self._results)

    def close(self) -> None:
        close = getattr(self._results, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> TaskRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_tasks(
    make_worker: Callable[[], Callable[[Any], Any]],
    tasks: Iterable[Any],
    *,
    backend: str = "serial",
    workers: int = 1,
    ray_address: str = "local",
    progress: Progress | None = None,
    purpose: str = "running tasks on Ray",
) -> TaskRun:
    """Run every task on a worker built by ``make_worker()``; yield the results.

    Each process (or Ray actor) builds one worker, once, and calls ``worker(task)`` for each task it is
    given, so models load once per process. With ``serial`` the results come in task order; with
    ``processes`` and ``ray`` as they finish. A worker with a ``close()`` method is closed at the end of a
    serial run; workers in processes and actors end with them.

    Args:
        make_worker: Builds a worker: a callable taking one task and returning its result. For
            ``processes`` and ``ray`` it and the tasks are pickled, so use a module-level class or a
            :func:`functools.partial` of one (e.g. ``partial(RowWorker, config)``).
        tasks: What to run.
        backend: ``serial`` (this process), ``processes`` (``workers`` spawned local processes, two tasks
            each in flight) or ``ray`` (``workers`` Ray actors of one CPU each); see :func:`pick_backend`.
        workers: Worker processes or actors.
        ray_address: With ``ray``: ``local`` starts a Ray cluster here (and stops it at the end) unless
            one is running; else the address of a running cluster (e.g. ``ray://head:10001``).
        progress: Show a progress bar, advanced as results arrive.
        purpose: What the run is for, named in the error when Ray is not installed.

    Returns:
        A :class:`TaskRun`: iterate it for the results; close it (or use it in ``with``) to stop early.

    Raises:
        ConfigError: an unknown backend or fewer than one worker.
        MissingDependencyError: ``ray`` is asked for and Ray is not installed (raised on the first result).
    """
    if backend not in BACKENDS:
        raise ConfigError(f"Unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}.")
    if workers < 1:
        raise ConfigError(f"workers must be at least 1; got {workers}.")
    if backend == "ray":
        results = _run_on_ray(_RayWorker, (make_worker,), tasks, workers, ray_address, purpose)
    elif backend == "processes":
        results = _run_in_processes(_start_process_worker, (make_worker,), _run_in_process_worker, tasks, workers)
    else:
        results = _run_serial(make_worker, tasks)
    return TaskRun(with_progress(results, progress) if progress is not None else results)


def _run_serial(make_worker: Callable[[], Callable[[Any], Any]], tasks: Iterable[Any]) -> Iterator[Any]:
    worker = make_worker()
    try:
        for task in tasks:
            yield worker(task)
    finally:
        close = getattr(worker, "close", None)
        if callable(close):
            close()


def with_progress(results: Iterator[Any], progress: Progress) -> Iterator[Any]:
    """``results``, advancing a progress bar as each arrives; the bar and ``results`` close at the end."""
    from tqdm.auto import tqdm

    bar = tqdm(total=progress.total, initial=progress.initial, unit=progress.unit, desc=progress.desc or None)
    try:
        for result in results:
            steps = 1 if progress.advance is None else progress.advance(result)
            if steps:
                bar.update(steps)
            yield result
    finally:
        bar.close()
        close = getattr(results, "close", None)
        if close is not None:
            close()


_PROCESS_WORKER: Callable[[Any], Any] | None = None


def _start_process_worker(make_worker: Callable[[], Callable[[Any], Any]]) -> None:
    global _PROCESS_WORKER
    _PROCESS_WORKER = make_worker()


def _run_in_process_worker(task: Any) -> Any:
    assert _PROCESS_WORKER is not None, "worker process was not initialised"
    return _PROCESS_WORKER(task)


class _RayWorker:
    """A Ray actor holding one worker (its models load once per actor)."""

    def __init__(self, make_worker: Callable[[], Callable[[Any], Any]]) -> None:
        self.worker = make_worker()

    def run(self, task: Any) -> Any:
        return self.worker(task)


def _bounded(
    submit: Callable[[Any], Any],
    items: Iterable[Any],
    window: int,
    wait_one: Callable[[set], tuple[list[Any], set]],
) -> Iterator[Any]:
    """Keep at most ``window`` items in flight; yield results as they finish.

    Args:
        submit: Starts one item and returns a handle (a future, a Ray object ref).
        items: What to run.
        window: Most items in flight at once.
        wait_one: Takes the set of pending handles, waits until at least one is done, and returns the
            finished results and the handles still pending.
    """
    pending: set = set()
    queue = iter(items)
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


def _run_in_processes(
    initializer: Callable[..., None],
    initargs: tuple[Any, ...],
    function: Callable[[Any], Any],
    items: Iterable[Any],
    workers: int,
) -> Iterator[Any]:
    """Run ``function(item)`` for ``items`` in ``workers`` spawned local processes (results as they finish).

    Each process first calls ``initializer(*initargs)`` (load models there, once per process). Both
    functions must be importable module-level functions. At most two items per worker are in flight.
    """
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    def wait_one(pending: set) -> tuple[list[Any], set]:
        done, rest = wait(pending, return_when=FIRST_COMPLETED)
        return [f.result() for f in done], rest

    # spawn: a fresh interpreter per worker, so no thread pools or model handles are inherited by fork.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=initializer, initargs=initargs) as pool:
        try:
            yield from _bounded(lambda item: pool.submit(function, item), items, 2 * workers, wait_one)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _run_on_ray(
    actor_class: type,
    actor_args: tuple[Any, ...],
    items: Iterable[Any],
    workers: int,
    address: str,
    purpose: str,
) -> Iterator[Any]:
    """Run ``items`` on ``workers`` Ray actors of ``actor_class`` (each built with ``actor_args``).

    The actor class needs a method ``run(item)``. Results come back as they finish (not in order).

    Args:
        actor_class: A plain class; it is made a Ray actor with one CPU each.
        actor_args: Arguments of its constructor (picklable: they travel to the actors).
        items: What to run.
        workers: How many actors.
        address: ``local`` starts a Ray cluster here (and stops it at the end); else the address of a
            running cluster (e.g. ``ray://head:10001``).
        purpose: What it is for, named in the error when Ray is not installed.

    Raises:
        MissingDependencyError: Ray is not installed.
    """
    try:
        import ray
    except ImportError:
        raise MissingDependencyError("ray", "ray", purpose=purpose) from None

    started = False
    if not ray.is_initialized():
        if address == "local":
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
        started = True
    try:
        remote_class = ray.remote(num_cpus=1)(actor_class)
        actors = [remote_class.remote(*actor_args) for _ in range(workers)]
        free = list(actors)
        owner: dict[Any, Any] = {}

        def submit(item: Any) -> Any:
            actor = free.pop()
            ref = actor.run.remote(item)
            owner[ref] = actor
            return ref

        def wait_one(pending: set) -> tuple[list[Any], set]:
            done, rest = ray.wait(list(pending), num_returns=1)
            results = []
            for ref in done:
                free.append(owner.pop(ref))
                results.append(ray.get(ref))
            return results, set(rest)

        yield from _bounded(submit, items, len(actors), wait_one)
    finally:
        if started:
            ray.shutdown()
