"""The seed's demo on one host: a Flask frontend calling a Flask backend,
no OpenTelemetry SDK anywhere.

  python3 flask_app.py backend
  BACKEND_URL=http://127.0.0.1:PORT python3 flask_app.py frontend

Each listens on 127.0.0.1, port $PORT or else an ephemeral one (threaded
werkzeug server), and prints "PORT <n>" once listening.

backend:  GET /api/inventory/<id>  200 (404 when id % 5 == 0, 500 when id % 7 == 0)
          POST /api/orders/<id>    201 with the body's length
frontend: GET /process-order/<id>  calls the backend (POST /api/orders/<id> for
          even ids, GET /api/inventory/<id> for odd ones) with urllib and
          answers with the backend's status
"""
import os
import sys
import urllib.error
import urllib.request

from flask import Flask, jsonify, request
from werkzeug.serving import make_server

role = sys.argv[1]
app = Flask(role)


@app.get("/api/inventory/<int:item>")
def inventory(item):
    if item % 7 == 0:
        return jsonify(error="inventory failure"), 500
    if item % 5 == 0:
        return jsonify(error="no such item"), 404
    return jsonify(item=item, stock=item * 3)


@app.post("/api/orders/<int:item>")
def order(item):
    return jsonify(item=item, received=len(request.get_data())), 201


@app.get("/process-order/<int:item>")
def process_order(item):
    backend = os.environ["BACKEND_URL"]
    if item % 2 == 0:
        req = urllib.request.Request(f"{backend}/api/orders/{item}", data=b'{"qty": 1}', method="POST",
                                     headers={"Content-Type": "application/json"})
    else:
        req = urllib.request.Request(f"{backend}/api/inventory/{item}")
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            return res.read(), res.status, {"Content-Type": "application/json"}
    except urllib.error.HTTPError as e:
        return e.read(), e.code, {"Content-Type": "application/json"}


server = make_server("127.0.0.1", int(os.environ.get("PORT", "0")), app, threaded=True)
print(f"PORT {server.server_port}", flush=True)
try:
    server.serve_forever()
except KeyboardInterrupt:
    pass
