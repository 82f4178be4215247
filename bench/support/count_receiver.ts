/**
 * A minimal loopback OTLP/HTTP receiver for benchmarks: answers 200 to every
 * POST at once (so the receiver is never the bottleneck) and reports request
 * and byte counts on stdout when asked at GET /stats. Runs as its own process.
 * @module
 */
let requests = 0;
let bytes = 0;
const server = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen: ({ port }) => console.log(port) },
  async (req) => {
    if (req.method === "GET") return Response.json({ requests, bytes });
    bytes += (await req.arrayBuffer()).byteLength;
    requests++;
    return new Response(new Uint8Array(0), { headers: { "content-type": "application/x-protobuf" } });
  },
);
await server.finished;
