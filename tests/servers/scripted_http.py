#!/usr/bin/env python3
"""A loopback HTTP server that answers from a script, for exact-protocol tests.

Usage: scripted_http.py SCRIPT.json PORT_FILE LOG_FILE

SCRIPT is a JSON list of answers, used one per request in order:
  {"status": 200, "headers": {...}, "body": "text", "action": null}
action: "stall" (read the request, never answer), "drop" (close without answering),
"truncate" (announce the whole body, send half, close). When the script runs out, the server
answers 599. Each request is appended to LOG_FILE as one JSON line: method, path, headers
(lowercased names), body length and SHA-256, and the body itself when it is short text.
"""
import hashlib, json, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

script = json.load(open(sys.argv[1]))
port_file, log_file = sys.argv[2], sys.argv[3]
lock = threading.Lock()
state = {"next": 0}


def small_text(body):
    """The body as text when it is short UTF-8 (XML requests), else None."""
    if len(body) > 4096:
        return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with lock:
            i = state["next"]
            state["next"] += 1
            with open(log_file, "a") as f:
                f.write(json.dumps({"method": self.command, "path": self.path,
                                    "headers": {k.lower(): v for k, v in self.headers.items()},
                                    "length": len(body),
                                    "sha256": hashlib.sha256(body).hexdigest(),
                                    "text": small_text(body)}) + "\n")
        answer = script[i] if i < len(script) else {"status": 599, "body": "script exhausted"}
        action = answer.get("action")
        if action == "stall":
            time.sleep(30)
            return
        if action == "drop":
            self.close_connection = True
            self.connection.close()
            return
        data = answer.get("body", "").encode()
        self.send_response(answer.get("status", 200))
        for k, v in answer.get("headers", {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if action == "truncate":
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.close()
            return
        self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
