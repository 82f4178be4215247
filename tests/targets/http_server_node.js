// A Node http server target for the zero-code HTTP tests: keep-alive,
// 127.0.0.1 port 0; prints "PORT <n>" once listening.
//   GET /items/<n>  200 JSON (Content-Length)
//   GET /stream     200, chunked (three writes, no Content-Length)
//   GET /boom       503
//   else            404
const http = require("node:http");

const server = http.createServer({ keepAliveTimeout: 30000 }, (req, res) => {
  const m = /^\/items\/(\d+)$/.exec(req.url.split("?")[0]);
  if (m) {
    const body = JSON.stringify({ item: Number(m[1]) });
    res.writeHead(200, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
    res.end(body);
  } else if (req.url === "/stream") {
    res.writeHead(200, { "Content-Type": "text/plain" });
    res.write("one,");
    setTimeout(() => {
      res.write("two,");
      setTimeout(() => res.end("three"), 5);
    }, 5);
  } else if (req.url === "/boom") {
    res.writeHead(503, { "Content-Type": "text/plain" });
    res.end("unavailable");
  } else {
    res.writeHead(404, { "Content-Type": "text/plain" });
    res.end("not found");
  }
});
server.listen(0, "127.0.0.1", () => {
  console.log(`PORT ${server.address().port}`);
});
process.on("SIGTERM", () => process.exit(0));
