"""Talk to a running `emotionlayer serve`: start a conversation, send two turns in it, read its history.

    emotionlayer serve --no-page                      # in another terminal (add --host 0.0.0.0 to serve others)
    python examples/serve_client.py                   # http://127.0.0.1:7860, two example recordings
    python examples/serve_client.py --url http://HOST:7860 first.wav second.wav

Only the standard library: the second answer sees the first turn (the server keeps the conversation's
history under the session id). A busy server answers 503 with Retry-After; this client waits and retries.
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

AUDIO = Path(__file__).resolve().parent / "audio"


def call(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> dict:
    """One request; JSON back. Waits and retries (up to 5 times) when the server says it is busy (503)."""
    for _ in range(5):
        request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=300) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            if error.code != 503:
                raise SystemExit(f"HTTP {error.code}: {json.loads(error.read()).get('error')}") from None
            wait = int(error.headers.get("Retry-After", "5"))
            print(f"(server busy; retrying in {wait} s)")
            time.sleep(wait)
    raise SystemExit("the server stayed busy; try again later")


def respond(url: str, session: str, clip: Path) -> dict:
    """POST /api/respond: the recording as the multipart field 'audio', the conversation id as 'session'."""
    boundary = uuid.uuid4().hex
    body = b"".join(
        [
            f'--{boundary}\r\nContent-Disposition: form-data; name="session"\r\n\r\n{session}\r\n'.encode(),
            f'--{boundary}\r\nContent-Disposition: form-data; name="audio"; filename="{clip.name}"\r\n'.encode(),
            b"Content-Type: audio/wav\r\n\r\n" + clip.read_bytes() + b"\r\n",
            f"--{boundary}--\r\n".encode(),
        ]
    )
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    return call("POST", f"{url}/api/respond", body, headers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clips", nargs="*", type=Path, default=[AUDIO / "sad_phone.wav", AUDIO / "angry_phone.wav"])
    parser.add_argument("--url", default="http://127.0.0.1:7860", help="where the server runs")
    args = parser.parse_args()
    url = args.url.rstrip("/")

    session = call("POST", f"{url}/api/sessions")["session"]
    print(f"conversation {session}")
    for clip in args.clips:
        turn = respond(url, session, clip)
        print(f"you ({turn['emotion']['label']}): {turn['transcript']}")
        print(f"  reply ({turn['response']['strategy']}): {turn['response']['text']}")
        print(f"  spoken reply: {url}{turn['audio_url']}  (turn {turn['session']['turns']})")
    history = call("GET", f"{url}/api/sessions/{session}")
    print(f"the server keeps {len(history['history'])} turns of this conversation")
    call("DELETE", f"{url}/api/sessions/{session}")


if __name__ == "__main__":
    main()
