"""Running many independent items on worker processes or Ray actors, a bounded number in flight.

Dataset generation and batch evaluation both hand out items (rows, clips) to workers that each load their
models once; this module holds the scheduling they share, so it is written (and fixed) once. Scaling past
one machine is Ray's job: :func:`run_on_ray` starts a local cluster or joins one at an address.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .errors import MissingDependencyError


def bounded(
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


def run_in_processes(
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
            yield from bounded(lambda item: pool.submit(function, item), items, 2 * workers, wait_one)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def run_on_ray(
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

        yield from bounded(submit, items, len(actors), wait_one)
    finally:
        if started:
            ray.shutdown()
