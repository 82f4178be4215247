"""A plain HTTP client target for the zero-code HTTP tests: prints "PORT 0"
(ready), then for each URL read from stdin makes one GET with urllib and
prints "<status>" or "ERR <exception name>".
"""
import sys
import urllib.error
import urllib.request

print("PORT 0", flush=True)
for line in sys.stdin:
    url = line.strip()
    if not url:
        continue
    try:
        with urllib.request.urlopen(url, timeout=10) as res:
            res.read()
            print(res.status, flush=True)
    except urllib.error.HTTPError as e:
        e.read()
        print(e.code, flush=True)
    except Exception as e:  # connection errors are what the test is about
        print("ERR", type(e).__name__, flush=True)
