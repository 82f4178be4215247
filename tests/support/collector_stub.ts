/**
 * A loopback stand-in collector for exporter tests that need an answer the
 * real receiver (otlp_receiver.ts) does not give: a gzip bomb, an endless or
 * stalled body.
 * @module
 */

/** A running stand-in collector. */
export interface CollectorStub {
  /** Its traces URL (`http://127.0.0.1:PORT/v1/traces`). */
  url: string;
  /** Requests received (each body read in full). */
  readonly requests: number;
  close(): Promise<void>;
}

/** A loopback server answering every POST with `answer()` once it has read the body; counts requests. */
export function collectorStub(answer: () => Response): CollectorStub {
  let requests = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    await req.arrayBuffer();
    requests++;
    return answer();
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/v1/traces`,
    get requests() {
      return requests;
    },
    close: () => server.shutdown(),
  };
}
