"""A local OpenAI-compatible chat-completions server for the agent tests: a tiny threaded
http.server on 127.0.0.1 (a free port) answering from a script.

Each request to POST /v1/chat/completions takes the next step of the script (the last step
repeats): a function of the request body returning what to answer. Helpers build the usual
steps: `answer(content)` (200 with that message content), `answer_with(function)` (content
computed from the DATA block the run sent), `malformed()`, `status(500)`, `hang(seconds)`.
Every request body is kept in `requests`, so a test can check what left the run, or that
nothing did.

    with OpenAIServer([status(500), answer_with(honest_answer)]) as server:
        settings.AGENT_ENDPOINTS = {"local": {"base_url": server.base_url, "api_key": None}}
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Step = Callable[[dict[str, Any]], tuple[int, Any]]
"""request body -> (HTTP status, response body: a dict sent as JSON, or raw bytes/str)."""


def completion(content: str, *, model: str = "test-model", usage: tuple[int, int] = (1200, 300)):
    prompt_tokens, completion_tokens = usage
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def data_of(body: dict[str, Any]) -> dict[str, Any]:
    """The DATA block a run sent (JSON between <data> and </data> in the last message)."""
    text = body["messages"][-1]["content"]
    match = re.search(r"<data>\n(.*)\n</data>", text, re.DOTALL)
    assert match, "no DATA block in the request"
    return json.loads(match.group(1))


def answer(content: dict[str, Any] | str, **options: Any) -> Step:
    text = content if isinstance(content, str) else json.dumps(content)
    return lambda body: (200, completion(text, **options))


def answer_with(function: Callable[[dict[str, Any]], dict[str, Any]], **options: Any) -> Step:
    return lambda body: (200, completion(json.dumps(function(data_of(body))), **options))


def malformed() -> Step:
    return answer('{"summary": "The portfolio is fine", "risks": [')


def status(code: int) -> Step:
    return lambda body: (code, {"error": {"message": f"scripted {code}", "type": "server_error"}})


def hang(seconds: float) -> Step:
    def step(body: dict[str, Any]) -> tuple[int, Any]:
        time.sleep(seconds)
        return 200, completion("{}")

    return step


class OpenAIServer:
    def __init__(self, script: list[Step]) -> None:
        self.script = list(script)
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with server._lock:
                    server.requests.append(body)
                    step = server.script[min(len(server.requests), len(server.script)) - 1]
                try:
                    code, payload = step(body)
                except Exception as error:  # a broken test step answers 500, visibly
                    code, payload = 500, {"error": {"message": repr(error)}}
                raw = payload if isinstance(payload, bytes) else None
                if raw is None:
                    raw = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> OpenAIServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
