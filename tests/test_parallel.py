"""The shared scheduling of dataset generation and batch evaluation."""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

from emotionlayer.parallel import bounded, run_in_processes


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

    assert sorted(bounded(submit, range(7), 3, wait_one)) == [0, 10, 20, 30, 40, 50, 60]
    assert most == 3


def test_bounded_with_real_futures():
    with ThreadPoolExecutor(2) as pool:
        def wait_one(pending):
            done, rest = wait(pending, return_when=FIRST_COMPLETED)
            return [f.result() for f in done], rest

        assert sorted(bounded(lambda x: pool.submit(pow, x, 2), range(5), 2, wait_one)) == [0, 1, 4, 9, 16]
    assert list(bounded(lambda x: x, [], 2, lambda p: ([], set()))) == []


def _init(offset):
    global _OFFSET
    _OFFSET = offset


def _add(item):
    return item + _OFFSET


def test_run_in_processes_initialises_each_worker_once():
    assert sorted(run_in_processes(_init, (100,), _add, range(4), workers=2)) == [100, 101, 102, 103]
