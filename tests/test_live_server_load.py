"""A small run of benchmarks/load_test.py: the server in a subprocess, fake components, every path once or more."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("httpx")
pytest.importorskip("psutil")
pytest.importorskip("websocket")  # websocket-client, for the live sockets


def test_a_small_load_test_gets_no_5xx_and_takes_every_path(repo_script):
    load_test = repo_script("benchmarks/load_test.py")
    args = load_test.parse(["--fake", "--clients", "3", "--requests", "8", "--max-waiting", "1", "--keep-replies", "5"])
    result = load_test.run(args)
    assert result["http_5xx"] == 0, result
    assert result["http_503"] >= 1  # the burst is larger than the queue
    assert result["sessions_tried"] == 2 and result["sessions_with_history"] == 2  # both turns kept in each
    assert result["bad_input_sent"] == 3 and result["http_4xx_bad_input"] == 3  # corrupt, oversize, too long
    assert result["by_status"]["200"] >= 6
    assert result["live"]["turns_done"] == 2 and result["live"]["refused_beyond_limit"] is True
    assert result["live"]["errors"] == []
    assert result["health_after"] is True and result["server_errors_metric"] == 0
    assert 0 < result["reply_files_left"] <= 5
    assert result["server_peak_rss_mb"] > 0 and result["turn_seconds_p50"] is not None
