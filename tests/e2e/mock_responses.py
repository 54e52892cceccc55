#!/usr/bin/env python3
"""Minimal offline mock of the OpenAI Responses API for driving the real Codex CLI
(tests/e2e_codex.rs; a copy of the verified codex-kit mock, see tests/e2e/README.md).

Binds 127.0.0.1 only.  POST /v1/responses (stream=true) answers with SSE events:
response.created, response.output_item.added, response.output_text.delta (two chunks),
response.output_item.done, response.completed (with usage).

Scripting (decided from the request's `input` list):
  * last input item is a function_call_output  -> final assistant text
  * last user message contains "RUNTOOL"        -> one shell function_call
  * otherwise                                   -> plain assistant text
The shell tool name/argument shape is taken from the request's `tools`
(shell -> {"command":[...]}, shell_command -> {"command": str},
 exec_command -> {"cmd": str}).

Every request (method, path, headers, JSON body) is appended to --log as JSONL.
Usage: mock_responses.py --port 0 --port-file F --log requests.jsonl
"""
import argparse
import itertools
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
COUNTER = itertools.count(1)
ARGS = None
TOOL_CMD = "echo hi-from-tool && pwd"


def log_request(entry):
    with LOCK:
        with open(ARGS.log, "a") as f:
            f.write(json.dumps(entry) + "\n")


def user_text(item):
    if item.get("type") not in (None, "message") or item.get("role") != "user":
        return None
    parts = item.get("content") or []
    if isinstance(parts, str):
        return parts
    return "".join(p.get("text", "") for p in parts if isinstance(p, dict))


def pick_shell_tool(tools):
    names = {}
    for t in tools or []:
        n = t.get("name") or (t.get("function") or {}).get("name")
        if n:
            names[n] = t
    for n in ("shell", "shell_command", "exec_command"):
        if n in names:
            return n
    return next(iter(names), "shell")


def tool_args(name):
    if name == "shell":
        return {"command": ["bash", "-lc", TOOL_CMD], "timeout_ms": 10000}
    if name == "exec_command":
        return {"cmd": TOOL_CMD, "yield_time_ms": 2000}
    return {"command": TOOL_CMD, "timeout_ms": 10000}


def sse(ev):
    return ("event: %s\ndata: %s\n\n" % (ev["type"], json.dumps(ev))).encode()


def build_events(body, n):
    inp = body.get("input") or []
    last = inp[-1] if inp else {}
    resp_id = "resp_mock_%d" % n
    usage = {
        "input_tokens": 100 + n,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 10 + n,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 110 + 2 * n,
    }
    events = [{"type": "response.created",
               "response": {"id": resp_id, "status": "in_progress"}}]
    last_user = None
    for it in reversed(inp):
        t = user_text(it)
        if t is not None:
            last_user = t
            break
    if last.get("type") != "function_call_output" and last_user and "RUNTOOL" in last_user:
        name = pick_shell_tool(body.get("tools"))
        item = {"type": "function_call", "id": "fc_mock_%d" % n,
                "call_id": "call_mock_%d" % n, "name": name,
                "arguments": json.dumps(tool_args(name)), "status": "completed"}
        events.append({"type": "response.output_item.added", "output_index": 0,
                       "item": dict(item, arguments="", status="in_progress")})
        events.append({"type": "response.output_item.done", "output_index": 0,
                       "item": item})
    else:
        if last.get("type") == "function_call_output":
            out = last.get("output")
            if not isinstance(out, str):
                out = json.dumps(out)
            text = "Tool finished. Output was: " + out[:200]
        else:
            text = "Hello from the mock (request %d). You said: %s" % (n, (last_user or "")[:80])
        msg_id = "msg_mock_%d" % n
        events.append({"type": "response.output_item.added", "output_index": 0,
                       "item": {"type": "message", "id": msg_id, "role": "assistant",
                                "status": "in_progress", "content": []}})
        for chunk in (text[: len(text) // 2], text[len(text) // 2:]):
            events.append({"type": "response.output_text.delta", "item_id": msg_id,
                           "output_index": 0, "content_index": 0, "delta": chunk})
        events.append({"type": "response.output_item.done", "output_index": 0,
                       "item": {"type": "message", "id": msg_id, "role": "assistant",
                                "status": "completed",
                                "content": [{"type": "output_text", "text": text,
                                             "annotations": []}]}})
    events.append({"type": "response.completed",
                   "response": {"id": resp_id, "status": "completed", "usage": usage}})
    return events


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        enc = (self.headers.get("Content-Encoding") or "").lower()
        if enc == "zstd":
            try:
                import zstandard  # optional
                raw = zstandard.ZstdDecompressor().decompress(raw, max_output_size=1 << 28)
            except Exception as e:  # noqa
                return raw, {"_undecodable": enc, "_error": str(e)}
        elif enc in ("gzip", "deflate"):
            import zlib
            raw = zlib.decompress(raw, 47)
        try:
            return raw, json.loads(raw or b"null")
        except Exception:
            return raw, {"_raw": raw[:2000].decode("latin1")}

    def _send_json(self, code, obj):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        log_request({"t": time.time(), "method": "GET", "path": self.path,
                     "headers": dict(self.headers)})
        if self.path.split("?")[0].endswith("/models"):
            self._send_json(200, {"object": "list", "data": [], "models": []})
        else:
            self._send_json(404, {"error": {"message": "not found"}})

    def do_POST(self):
        _, body = self._body()
        n = next(COUNTER)
        log_request({"t": time.time(), "n": n, "method": "POST", "path": self.path,
                     "headers": dict(self.headers), "body": body})
        if not self.path.split("?")[0].endswith("/responses") or not isinstance(body, dict):
            self._send_json(404, {"error": {"message": "not found"}})
            return
        events = build_events(body, n)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        for ev in events:
            self.wfile.write(sse(ev))
            self.wfile.flush()
        self.close_connection = True


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    p.add_argument("--log", default="requests.jsonl")
    ARGS = p.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", ARGS.port), H)
    srv.daemon_threads = True
    port = srv.server_address[1]
    if ARGS.port_file:
        # Written whole (temp + rename): the reader polls for it.
        with open(ARGS.port_file + ".tmp", "w") as f:
            f.write(str(port))
        os.rename(ARGS.port_file + ".tmp", ARGS.port_file)
    print("mock listening on 127.0.0.1:%d pid=%d" % (port, os.getpid()), file=sys.stderr, flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
