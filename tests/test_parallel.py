"""The one runner of dataset generation and batch evaluation: serial, processes, Ray, closing, progress."""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from functools import partial
from pathlib import Path

import pytest

from emotionlayer.errors import ConfigError
from emotionlayer.parallel import _bounded, pick_backend, run_tasks


def test_bounded_keeps_the_window_and_returns_everything():
    in_flight, most = set(), 0

    def submit(item):
        nonlocal most
        in_flight.add(item)
        most = max(most, len(in_flight))
        return item

    def wait_one(pending):
        first = min(pending)
        in_flight.discard(first)
        return [first * 10], pending - {first}

    assert sorted(_bounded(submit, range(7), 3, wait_one)) == [0, 10, 20, 30, 40, 50, 60]
    assert most == 3


def test_bounded_with_real_futures():
    with ThreadPoolExecutor(2) as pool:

        def wait_one(pending):
            done, rest = wait(pending, return_when=FIRST_COMPLETED)
            return [f.result() for f in done], rest

        assert sorted(_bounded(lambda x: pool.submit(pow, x, 2), range(5), 2, wait_one)) == [0, 1, 4, 9, 16]
    assert list(_bounded(lambda x: x, [], 2, lambda p: ([], set()))) == []


# -- run_tasks: the one runner -----------------------------------------------------------------------
class Adder:
    """A worker: adds its offset to each task; counts the workers built and closed in this process."""

    built = 0
    closed = 0

    def __init__(self, offset):
        Adder.built += 1
        self.offset = offset

    def __call__(self, task):
        if task == "boom":
            raise ValueError("boom")
        return task + self.offset

    def close(self):
        Adder.closed += 1


class Pid:
    """A worker that answers with the id of the process it runs in and its own id."""

    def __call__(self, task):
        import os

        return task, os.getpid(), id(self)


@pytest.fixture()
def fresh_adder():
    Adder.built = Adder.closed = 0
    return Adder


def test_pick_backend():
    assert pick_backend(1) == "serial" and pick_backend(3) == "processes"
    assert pick_backend(1, "local") == "ray" and pick_backend(4, "ray://head:10001") == "ray"


def test_serial_runs_in_order_with_one_worker_and_closes_it(fresh_adder):
    with run_tasks(partial(Adder, 100), [3, 1, 2]) as results:
        assert list(results) == [103, 101, 102]
    assert (Adder.built, Adder.closed) == (1, 1)


def test_stopping_early_closes_the_serial_worker_and_starts_no_more_tasks(fresh_adder):
    started = []

    def tasks():
        for task in range(10):
            started.append(task)
            yield task

    run = run_tasks(partial(Adder, 0), tasks())
    assert next(run) == 0 and next(run) == 1
    run.close()
    assert Adder.closed == 1 and started == [0, 1]


def test_a_failing_task_raises_and_still_closes_the_worker(fresh_adder):
    with pytest.raises(ValueError, match="boom"), run_tasks(partial(Adder, 0), [1, "boom", 2]) as results:
        list(results)
    assert Adder.closed == 1


def test_processes_give_every_result_once_from_one_worker_per_process():
    import os

    with run_tasks(Pid, range(8), backend="processes", workers=2) as results:
        answers = list(results)
    assert sorted(task for task, _, _ in answers) == list(range(8))
    pids = {pid for _, pid, _ in answers}
    assert 1 <= len(pids) <= 2 and os.getpid() not in pids
    assert len({(pid, worker) for _, pid, worker in answers}) == len(pids)  # built once in each process


def test_processes_stopped_early_cancel_the_pending_tasks():
    run = run_tasks(partial(Adder, 0), range(1000), backend="processes", workers=2)
    first = next(run)
    run.close()
    assert 0 <= first < 1000
    with pytest.raises(StopIteration):
        next(run)


def test_progress_counts_what_advance_says(capsys):
    from emotionlayer.parallel import Progress

    seen = []

    def advance(result):
        seen.append(result)
        return result % 2  # odd results complete a unit, even ones do not

    with run_tasks(
        partial(Adder, 0),
        [1, 2, 3, 4, 5],
        progress=Progress(total=4, initial=1, unit="clip", desc="answering", advance=advance),
    ) as results:
        assert list(results) == [1, 2, 3, 4, 5]
    assert seen == [1, 2, 3, 4, 5]
    err = capsys.readouterr().err
    assert "answering" in err and "4/4" in err  # 1 done before + 3 odd results


def test_bad_options_are_refused():
    with pytest.raises(ConfigError, match="backend"):
        run_tasks(Pid, [1], backend="threads")
    with pytest.raises(ConfigError, match="workers"):
        run_tasks(Pid, [1], backend="processes", workers=0)


def test_ray_runs_tasks_on_actors():
    ray = pytest.importorskip("ray")
    try:
        here = str(Path(__file__).resolve().parent)  # the actors import this module to unpickle Adder
        ray.init(
            num_cpus=1, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": {"PYTHONPATH": here}}
        )
        with run_tasks(partial(Adder, 10), range(4), backend="ray", workers=1) as results:
            assert sorted(results) == [10, 11, 12, 13]
    finally:
        ray.shutdown()
