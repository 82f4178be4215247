"""A plain Python http.server target for the zero-code HTTP tests.

Listens on 127.0.0.1, port 0 (ephemeral), HTTP/1.1 keep-alive, one thread per
connection; prints "PORT <n>" on stdout once listening.

  GET  /items/<n>   200, a small JSON body
  POST /items       201, echoes the body length
  GET  /boom        500
  anything else     404
"""
import http.server
import json
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, payload):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        parts = self.path.split("?")[0].split("/")
        if len(parts) == 3 and parts[1] == "items" and parts[2].isdigit():
            self.reply(200, {"item": int(parts[2])})
        elif self.path == "/boom":
            self.reply(500, {"error": "boom"})
        else:
            self.reply(404, {"error": "not found"})

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        data = self.rfile.read(n)
        if self.path == "/items":
            self.reply(201, {"received": len(data)})
        else:
            self.reply(404, {"error": "not found"})


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(f"PORT {server.server_address[1]}", flush=True)
try:
    server.serve_forever()
except KeyboardInterrupt:
    pass
sys.exit(0)
