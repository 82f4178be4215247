/**
 * A probe spec's `metrics:` section: which span attributes become metric
 * attributes; mistakes name the file and line.
 */
import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { parseAgentConfig } from "../lib/config/agent_config.ts";
import { parseProbeSpec } from "../lib/config/probe_spec.ts";
import { UserError } from "../lib/core/errors.ts";

function spec(metrics: string): string {
  return `events:
  order:
    id: string
    status: string
    dur: duration_ns
spans:
  - name: order
    complete:
      event: order
      duration: dur
    attributes:
      order.id: id
      order.status: status
${metrics}`;
}

Deno.test("metrics.attributes: span attributes the spec sets become metric dimensions", () => {
  deepStrictEqual(parseProbeSpec("o.yaml", spec("metrics:\n  attributes: [order.status]\n")).metricAttributes, [
    "order.status",
  ]);
  deepStrictEqual(parseProbeSpec("o.yaml", spec("")).metricAttributes, [], "none by default");
});

Deno.test("metrics.attributes: unknown, repeated or misspelt entries are errors with file:line", () => {
  const cases: [string, RegExp][] = [
    [
      "metrics:\n  attributes: [order.state]\n",
      /o\.yaml:15.*no span of this spec sets the attribute "order\.state".*order\.id, order\.status/,
    ],
    ["metrics:\n  attributes: [order.status, order.status]\n", /o\.yaml:15.*listed twice/],
    ["metrics:\n  attribute: [order.status]\n", /o\.yaml:15.*attribute/],
  ];
  for (const [text, re] of cases) {
    throws(() => parseProbeSpec("o.yaml", spec(text)), (e: unknown) => {
      ok(e instanceof UserError, String(e));
      strictEqual(e.exitCode, 2);
      ok(re.test(e.message), e.message);
      return true;
    });
  }
});

Deno.test("agent config: metrics: off | otlp | prometheus | both, anything else an error at its line", () => {
  strictEqual(parseAgentConfig("c.yaml", "metrics: otlp\n").metrics, "otlp");
  strictEqual(parseAgentConfig("c.yaml", "metrics_port: 9464\n").metrics, undefined);
  throws(() => parseAgentConfig("c.yaml", "metrics_port: 9464\nmetrics: all\n"), (e: unknown) => {
    ok(e instanceof UserError && e.exitCode === 2, String(e));
    ok(/c\.yaml:2.*metrics must be one of off, otlp, prometheus, both/.test(e.message), e.message);
    return true;
  });
});
