"""Load test of ``emotionlayer serve``: many clients at once, good and bad uploads, conversations, live sockets.

Starts the server on 127.0.0.1 (a free port, the JSON API only) in a subprocess, and drives it with a
bounded number of concurrent clients and requests:

- good uploads (the recordings in examples/audio), corrupt ones (random bytes, a cut WAV), ones over the
  size limit (``--max-mb``) and over the length limit (``--max-seconds``);
- conversations: ``POST /api/sessions``, two turns in it (retried after ``Retry-After`` when refused), then
  ``GET /api/sessions/ID`` to check that the history holds both;
- a burst of more simultaneous uploads than the server lets wait (``--max-waiting``): the 503 path;
- ``--live`` live sockets (``WS /ws/live``) each holding a spoken turn at the same time, and one socket more
  than the server allows (``--max-live`` = ``--live``), which must be refused.

Then it reports: requests answered, by status; 503s; 4xx for bad input; 5xx (must be 0); p50/p90 latency of
the answered turns and of every request; the server's peak memory (RSS); the reply files left in its audio
folder (and its limit); and whether it still answers ``/health``. Exit status 1 if there was a 5xx or
``/health`` failed afterwards.

    python benchmarks/load_test.py                            # the default offline models
    python benchmarks/load_test.py --clients 8 --requests 60 --json
    python benchmarks/load_test.py --fake --requests 12       # fake components: the server's own overhead

Needs the ``live`` extra (fastapi, uvicorn), httpx, psutil, and websocket-client for the live sockets.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CLIPS = sorted((ROOT / "examples" / "audio").glob("*.wav"))
FAKE_CONFIG = {"ser": "dummy", "asr": "dummy", "llm": "dummy", "tts": "dummy", "vad": "energy"}
#: The server, started as ``python -c LAUNCH serve ...`` (with --fake the fake components are registered first).
LAUNCH = "from emotionlayer.cli.main import main; main()"
LAUNCH_FAKE = "import emotionlayer.testing; " + LAUNCH


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    import soundfile as sf

    out = io.BytesIO()
    sf.write(out, samples, rate, format="WAV")
    return out.getvalue()


def uploads(max_mb: float, max_seconds: float) -> dict[str, list[bytes]]:
    """The request bodies of each kind."""
    rng = np.random.default_rng(0)
    good = [clip.read_bytes() for clip in CLIPS]
    long = wav_bytes((0.01 * rng.standard_normal(int((max_seconds + 5) * 8000))).astype(np.float32), 8000)
    return {
        "good": good,
        "corrupt": [rng.bytes(20_000), good[0][:60], b""],
        "oversize": [rng.bytes(int(max_mb * 1024 * 1024) + 200_000)],
        "too_long": [long],
    }


class Server:
    """``emotionlayer serve`` in a subprocess, its peak memory sampled while it runs."""

    def __init__(self, args: argparse.Namespace, audio_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.audio_dir = audio_dir
        command = [sys.executable, "-c", LAUNCH_FAKE if args.fake else LAUNCH, "serve", "--no-page"]
        command += ["--host", "127.0.0.1", "--port", str(self.port), "--audio-dir", str(audio_dir)]
        command += ["--max-waiting", str(args.max_waiting), "--turn-timeout", str(args.turn_timeout)]
        command += ["--max-live", str(args.live), "--max-mb", str(args.max_mb), "--max-seconds", str(args.max_seconds)]
        command += ["--keep-replies", str(args.keep_replies)]
        config, system = args.config, args.system
        if args.fake and not config:
            config = str(audio_dir.parent / "fake.json")
            Path(config).write_text(json.dumps(FAKE_CONFIG))
        if args.fake and not system:
            system = "echo:delay=0.1"  # about 0.8 s a turn, so that a burst fills the queue
        command += ["--config", config] if config else []
        command += ["--system", system] if system else []
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.peak_rss = 0
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        import psutil

        try:
            process = psutil.Process(self.process.pid)
            while not self._stop.wait(0.1):
                self.peak_rss = max(self.peak_rss, process.memory_info().rss)
        except psutil.Error:
            return

    def peak_bytes(self) -> int:
        """The peak RSS: the kernel's high-water mark where there is one (Linux), else the sampled peak."""
        try:
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return max(self.peak_rss, int(line.split()[1]) * 1024)
        except OSError:
            pass
        return self.peak_rss

    def wait_ready(self, client: Any, seconds: float = 120.0) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited: {self.process.stderr.read()[-2000:]}")
            try:
                if client.get(self.url + "/health").status_code == 200:
                    return
            except Exception:
                pass
            time.sleep(0.2)
        raise RuntimeError("the server did not answer /health in time")

    def stop(self) -> None:
        self._stop.set()
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Results:
    """Every request's kind, status and seconds (thread-safe), and the checks made along the way."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, int, float]] = []
        self.notes: dict[str, Any] = {"sessions_with_history": 0, "sessions_tried": 0, "live": []}
        self._lock = threading.Lock()

    def add(self, kind: str, status: int, seconds: float) -> None:
        with self._lock:
            self.rows.append((kind, status, seconds))


def timed_post(client: Any, url: str, results: Results, kind: str, body: bytes, data: dict | None = None) -> Any:
    start = time.perf_counter()
    try:
        response = client.post(url + "/api/respond", files={"audio": ("clip.wav", body)}, data=data or {})
        status = response.status_code
    except Exception:  # the connection failed: counted as a server error
        response, status = None, 599
    results.add(kind, status, time.perf_counter() - start)
    return response


def conversation(client: Any, url: str, results: Results, bodies: list[bytes]) -> None:
    """A session of two turns (each retried after Retry-After when refused), then its history checked."""
    start = time.perf_counter()
    created = client.post(url + "/api/sessions")
    results.add("session_create", created.status_code, time.perf_counter() - start)
    if created.status_code != 201:
        return
    sid = created.json()["session"]
    with results._lock:
        results.notes["sessions_tried"] += 1
    for body in bodies[:2]:
        for _ in range(10):
            response = timed_post(client, url, results, "session_turn", body, {"session": sid})
            if response is None or response.status_code != 503:
                break
            time.sleep(min(30.0, float(response.headers.get("Retry-After", "1"))))
    start = time.perf_counter()
    history = client.get(f"{url}/api/sessions/{sid}")
    results.add("session_history", history.status_code, time.perf_counter() - start)
    if history.status_code == 200 and len(history.json()["history"]) == 2:
        with results._lock:
            results.notes["sessions_with_history"] += 1


def job(kind: str, client: Any, url: str, results: Results, bodies: dict[str, list[bytes]], rng: random.Random) -> None:
    if kind == "session":
        conversation(client, url, results, rng.sample(bodies["good"], 2))
    else:
        timed_post(client, url, results, kind, rng.choice(bodies[kind]))


def live_socket(url: str, clip: Path, timeout: float, connected: threading.Barrier) -> dict[str, Any]:
    """One spoken turn over WS /ws/live: wait for "ready", send the clip, then silence at real time until done."""
    import websocket

    from emotionlayer.audio import load_audio

    samples = load_audio(clip, 16000).samples.astype(np.float32)
    silence = np.zeros(1600, np.float32).tobytes()  # 0.1 s
    out: dict[str, Any] = {"turn_done": False, "first_audio_after_speech": None, "error": None}
    ws = websocket.create_connection(url, timeout=timeout)
    connected.wait()  # every socket is open: the one beyond the limit is tried now
    try:
        ready = json.loads(ws.recv())  # the models are loaded (or the refusal)
        if ready["kind"] != "ready":
            out["error"] = ready.get("error", ready["kind"])
            return out
        ws.send_binary(samples.tobytes())
        end = time.monotonic() + timeout
        while not out["turn_done"] and not out["error"] and time.monotonic() < end:
            ws.send_binary(silence)
            ws.settimeout(0.1)
            try:
                while not out["turn_done"]:
                    event = live_event(ws.recv())
                    if event is None:
                        continue
                    if event["kind"] == "latency":
                        out["first_audio_after_speech"] = event["after_speech"].get("first_audio")
                    out["turn_done"] = event["kind"] == "turn_done"
                    if event["kind"] in ("error", "closed"):
                        out["error"] = event.get("error", "closed by the server")
                        break
            except websocket.WebSocketTimeoutException:
                pass
    except Exception as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        ws.close()
    return out


def live_event(message: str | bytes) -> dict[str, Any] | None:
    """A JSON event; ``None`` for a reply sentence's WAV; ``{"kind": "closed"}`` when the server closed."""
    if isinstance(message, bytes):
        return None
    return json.loads(message) if message else {"kind": "closed"}


def refused_socket(url: str) -> bool:
    """Whether one socket more than the limit is refused with a message and close code 1013."""
    import websocket

    ws = websocket.create_connection(url, timeout=30)
    try:
        first = json.loads(ws.recv())
        opcode, frame = ws.recv_data_frame(control_frame=True)
        code = int.from_bytes(frame.data[:2], "big") if opcode == websocket.ABNF.OPCODE_CLOSE else None
        return first.get("status") == 503 and code == 1013
    finally:
        ws.close()


def live_phase(url: str, sockets: int, timeout: float) -> dict[str, Any]:
    """``sockets`` live conversations at once and, while they are open, one more that must be refused."""
    try:
        import websocket  # noqa: F401
    except ImportError:
        return {"skipped": "pip install websocket-client to test the live sockets"}
    ws_url = url.replace("http://", "ws://") + "/ws/live"
    connected = threading.Barrier(sockets + 1, timeout=timeout)
    with ThreadPoolExecutor(max(1, sockets)) as pool:
        runs = [pool.submit(live_socket, ws_url, CLIPS[i % len(CLIPS)], timeout, connected) for i in range(sockets)]
        connected.wait()
        refused = refused_socket(ws_url) if sockets else None
        runs = [run.result() for run in runs]
    return {"sockets": sockets, "turns_done": sum(r["turn_done"] for r in runs), "refused_beyond_limit": refused,
            "first_audio_after_speech": [r["first_audio_after_speech"] for r in runs],
            "errors": [r["error"] for r in runs if r["error"]]}  # fmt: skip


def run(args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    from emotionlayer.live.events import percentile

    with tempfile.TemporaryDirectory(prefix="emotionlayer-load-") as tmp:
        audio_dir = Path(tmp) / "replies"
        server = Server(args, audio_dir)
        results = Results()
        rng = random.Random(0)
        bodies = uploads(args.max_mb, args.max_seconds)
        try:
            with httpx.Client(timeout=args.turn_timeout + 60) as client:
                server.wait_ready(client)
                start = time.perf_counter()
                timed_post(client, server.url, results, "warmup", bodies["good"][0])  # loads the models
                warmup = time.perf_counter() - start
                mixed(args, client, server.url, results, bodies, rng)
                live = live_phase(server.url, args.live, args.turn_timeout + 60)
                burst(args, client, server.url, results, bodies)
                health = client.get(server.url + "/health")
                metrics = client.get(server.url + "/metrics").text
        finally:
            server.stop()
        peak = server.peak_bytes()
        files_left = len(list(audio_dir.glob("*.wav")))
    return report(args, results, warmup, live, health, metrics, peak, files_left, percentile)


def mixed(args: argparse.Namespace, client: Any, url: str, results: Results, bodies: dict, rng: random.Random) -> None:
    """``--requests`` jobs over ``--clients`` threads, stopped at ``--duration``: good, bad, conversations."""
    kinds = ["good", "session", "corrupt", "good", "oversize", "good", "too_long", "session"]
    end = time.monotonic() + args.duration
    with ThreadPoolExecutor(args.clients) as pool:
        futures = []
        for i in range(args.requests):
            if time.monotonic() > end:
                break
            futures.append(pool.submit(job, kinds[i % len(kinds)], client, url, results, bodies, random.Random(i)))
            while sum(not f.done() for f in futures) >= args.clients:
                time.sleep(0.01)
        for future in futures:
            future.result()


def burst(args: argparse.Namespace, client: Any, url: str, results: Results, bodies: dict) -> None:
    """More simultaneous uploads than the server lets wait: some must get 503 at once."""
    n = args.max_waiting + 3
    with ThreadPoolExecutor(n) as pool:
        list(pool.map(lambda i: timed_post(client, url, results, "burst", bodies["good"][i % 2]), range(n)))


def report(args, results, warmup, live, health, metrics, peak, files_left, percentile) -> dict[str, Any]:
    rows = results.rows
    statuses: dict[str, int] = {}
    for _, status, _ in rows:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    turns = [s for kind, status, s in rows if status == 200 and kind in ("good", "session_turn", "burst")]
    every = [s for _, _, s in rows]
    bad_kinds = ("corrupt", "oversize", "too_long")

    def pct(values: list[float], q: float) -> float | None:
        return round(percentile(values, q), 3) if values else None

    return {
        "clients": args.clients,
        "requests_asked": args.requests,
        "requests_answered": len(rows),
        "by_status": dict(sorted(statuses.items())),
        "http_503": statuses.get("503", 0),
        "http_504": statuses.get("504", 0),
        "http_4xx_bad_input": sum(1 for kind, status, _ in rows if kind in bad_kinds and 400 <= status < 500),
        "bad_input_sent": sum(1 for kind, _, _ in rows if kind in bad_kinds),
        "http_5xx": sum(1 for _, status, _ in rows if status >= 500 and status not in (503, 504)),
        "turn_seconds_p50": pct(turns, 50),
        "turn_seconds_p90": pct(turns, 90),
        "request_seconds_p50": pct(every, 50),
        "request_seconds_p90": pct(every, 90),
        "warmup_seconds": round(warmup, 2),
        "sessions_tried": results.notes["sessions_tried"],
        "sessions_with_history": results.notes["sessions_with_history"],
        "live": live,
        "server_peak_rss_mb": round(peak / 1e6, 1),
        "reply_files_left": files_left,
        "reply_files_limit": args.keep_replies,
        "health_after": health.status_code == 200 and health.json().get("status") == "ok",
        **server_figures(metrics),
    }


def server_figures(text: str) -> dict[str, float | None]:
    """From the server's /metrics: its unexpected errors, and the mean time a turn ran on the models and waited."""
    from prometheus_client.parser import text_string_to_metric_families

    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[sample.name] = values.get(sample.name, 0.0) + sample.value

    def mean(name: str) -> float | None:
        count = values.get(f"{name}_count", 0.0)
        return round(values[f"{name}_sum"] / count, 3) if count else None

    return {
        "server_errors_metric": values.get("emotionlayer_errors_total", 0.0),
        "server_turn_seconds_mean": mean("emotionlayer_turn_seconds"),
        "server_queue_wait_seconds_mean": mean("emotionlayer_queue_wait_seconds"),
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients")
    parser.add_argument("--requests", type=int, default=24, help="jobs in the mixed phase (a conversation is one)")
    parser.add_argument("--duration", type=float, default=600, help="stop starting jobs after this many seconds")
    parser.add_argument("--live", type=int, default=2, help="live sockets at once (also the server's --max-live)")
    parser.add_argument("--max-waiting", type=int, default=2, help="the server's --max-waiting")
    parser.add_argument("--turn-timeout", type=float, default=120, help="the server's --turn-timeout")
    parser.add_argument("--max-mb", type=float, default=2.0, help="the server's --max-mb (oversize uploads exceed it)")
    parser.add_argument("--max-seconds", type=float, default=20.0, help="the server's --max-seconds")
    parser.add_argument("--keep-replies", type=int, default=20, help="the server's --keep-replies")
    parser.add_argument("--config", help="pipeline config for the server (default: the packaged offline models)")
    parser.add_argument("--system", help="the server's --system")
    parser.add_argument(
        "--fake", action="store_true", help="fake components (emotionlayer.testing), system echo:delay=0.1"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    result = run(args)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:>24}: {value}")
    return 0 if result["http_5xx"] == 0 and result["health_after"] else 1


if __name__ == "__main__":
    sys.exit(main())
