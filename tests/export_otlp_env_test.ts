import { deepStrictEqual, strictEqual, throws } from "node:assert";
import {
  OTLP_DEFAULTS,
  parseKeyValueList,
  parseResourceAttributes,
  resolveOtlpConfig,
  resourceAttributesFromEnv,
  tracesUrlFromBase,
} from "../lib/export/otlp_env.ts";
import { UserError } from "../lib/core/errors.ts";

const envOf = (vars: Record<string, string>) => (name: string) => vars[name];

Deno.test("env: defaults when nothing is set", () => {
  deepStrictEqual(resolveOtlpConfig(envOf({})), { config: OTLP_DEFAULTS, warnings: [] });
  strictEqual(OTLP_DEFAULTS.endpoint, "http://localhost:4318/v1/traces");
});

Deno.test("env: the generic endpoint gets /v1/traces, the traces endpoint is used as is", () => {
  strictEqual(tracesUrlFromBase("http://c:4318"), "http://c:4318/v1/traces");
  strictEqual(tracesUrlFromBase("http://c:4318/"), "http://c:4318/v1/traces");
  strictEqual(tracesUrlFromBase("https://c/otlp"), "https://c/otlp/v1/traces");
  const generic = resolveOtlpConfig(envOf({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" }));
  strictEqual(generic.config.endpoint, "http://collector:4318/v1/traces");
  const both = resolveOtlpConfig(envOf({
    OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318",
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "https://traces.example/custom/path",
  }));
  strictEqual(both.config.endpoint, "https://traces.example/custom/path");
});

Deno.test("env: precedence is flag > signal-specific > generic > default", () => {
  const env = envOf({
    OTEL_EXPORTER_OTLP_ENDPOINT: "http://generic:4318",
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://signal:4318/v1/traces",
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf",
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/json",
    OTEL_EXPORTER_OTLP_COMPRESSION: "none",
    OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: "gzip",
    OTEL_EXPORTER_OTLP_TIMEOUT: "1000",
    OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: "2000",
  });
  deepStrictEqual(resolveOtlpConfig(env).config, {
    endpoint: "http://signal:4318/v1/traces",
    protocol: "http/json",
    headers: {},
    compression: "gzip",
    timeoutMs: 2000,
  });
  deepStrictEqual(
    resolveOtlpConfig(env, {
      endpoint: "http://flag:4318",
      protocol: "http/protobuf",
      compression: "none",
      timeoutMs: 3,
    })
      .config,
    {
      endpoint: "http://flag:4318/v1/traces",
      protocol: "http/protobuf",
      headers: {},
      compression: "none",
      timeoutMs: 3,
    },
  );
  strictEqual(
    resolveOtlpConfig(env, { endpoint: "http://flag:4318", tracesEndpoint: "http://flag2/x" }).config.endpoint,
    "http://flag2/x",
  );
  const genericOnly = envOf({ OTEL_EXPORTER_OTLP_PROTOCOL: "http/json", OTEL_EXPORTER_OTLP_TIMEOUT: "1500" });
  strictEqual(resolveOtlpConfig(genericOnly).config.protocol, "http/json");
  strictEqual(resolveOtlpConfig(genericOnly).config.timeoutMs, 1500);
});

Deno.test("env: empty values count as unset", () => {
  const env = envOf({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "  ", OTEL_EXPORTER_OTLP_ENDPOINT: "http://g:1" });
  strictEqual(resolveOtlpConfig(env).config.endpoint, "http://g:1/v1/traces");
});

Deno.test("env: headers are percent-decoded and merge key by key", () => {
  const env = envOf({
    OTEL_EXPORTER_OTLP_HEADERS: "Authorization=Basic%20dXNlcjpwdw%3D%3D, X-Team = red ,x-keep=1",
    OTEL_EXPORTER_OTLP_TRACES_HEADERS: "x-team=blue,,x-eq=a=b",
  });
  deepStrictEqual(resolveOtlpConfig(env).config.headers, {
    "authorization": "Basic dXNlcjpwdw==",
    "x-team": "blue",
    "x-keep": "1",
    "x-eq": "a=b",
  });
  deepStrictEqual(resolveOtlpConfig(env, { headers: { "X-Keep": "flag" } }).config.headers["x-keep"], "flag");
});

Deno.test("env: malformed header lists are ignored with a warning", () => {
  const { config, warnings } = resolveOtlpConfig(envOf({
    OTEL_EXPORTER_OTLP_HEADERS: "good=1",
    OTEL_EXPORTER_OTLP_TRACES_HEADERS: "novalue",
  }));
  deepStrictEqual(config.headers, { good: "1" });
  strictEqual(warnings.length, 1);
  strictEqual(warnings[0].startsWith("OTEL_EXPORTER_OTLP_TRACES_HEADERS ignored"), true);
});

Deno.test("env: unusable values are ignored with a warning naming the variable (the next source applies)", () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" }, /OTEL_EXPORTER_OTLP_PROTOCOL: grpc is not supported/],
    [{ OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "thrift" }, /OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: unknown protocol/],
    [{ OTEL_EXPORTER_OTLP_COMPRESSION: "zstd" }, /OTEL_EXPORTER_OTLP_COMPRESSION: unknown compression/],
    [{ OTEL_EXPORTER_OTLP_TIMEOUT: "10s" }, /OTEL_EXPORTER_OTLP_TIMEOUT: timeout must be/],
    [{ OTEL_EXPORTER_OTLP_TIMEOUT: "0" }, /timeout must be a positive/],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: "not a url" }, /OTEL_EXPORTER_OTLP_ENDPOINT: not a URL/],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "ftp://x/y" }, /only http and https/],
  ];
  for (const [vars, message] of cases) {
    const { config, warnings } = resolveOtlpConfig(envOf(vars));
    deepStrictEqual(config, OTLP_DEFAULTS, JSON.stringify(vars));
    strictEqual(warnings.length, 1, JSON.stringify(vars));
    strictEqual(message.test(warnings[0]) && warnings[0].endsWith("ignored"), true, warnings[0]);
  }
  // an ignored signal-specific value falls back to the generic one
  const { config } = resolveOtlpConfig(envOf({
    OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: "soon",
    OTEL_EXPORTER_OTLP_TIMEOUT: "1234",
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "::",
    OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318",
  }));
  strictEqual(config.timeoutMs, 1234);
  strictEqual(config.endpoint, "http://c:4318/v1/traces");
});

Deno.test("flags: unusable values are user errors naming the flag", () => {
  for (
    const [flags, message] of [[{ protocol: "grpc" }, /--protocol: grpc/], [
      { endpoint: "::" },
      /--endpoint: not a URL/,
    ]] as const
  ) {
    throws(() => resolveOtlpConfig(envOf({}), flags), (e: unknown) => {
      strictEqual(e instanceof UserError, true);
      strictEqual((e as UserError).exitCode, 2);
      strictEqual(message.test((e as Error).message), true, (e as Error).message);
      return true;
    });
  }
});

Deno.test("env: compression names are case-insensitive", () => {
  strictEqual(resolveOtlpConfig(envOf({ OTEL_EXPORTER_OTLP_COMPRESSION: "GZIP" })).config.compression, "gzip");
});

Deno.test("parseResourceAttributes: k=v list, trimmed and percent-decoded", () => {
  deepStrictEqual(
    parseResourceAttributes("service.name=my%20svc, deployment.environment = prod ,k8s.pod.name=a%2Cb,empty="),
    { "service.name": "my svc", "deployment.environment": "prod", "k8s.pod.name": "a,b", "empty": "" },
  );
  deepStrictEqual(parseResourceAttributes(""), {});
  deepStrictEqual(parseResourceAttributes("a=1,a=2"), { a: "2" });
  throws(() => parseResourceAttributes("a=1,broken"), /missing '='/);
  throws(() => parseResourceAttributes("=v"), /empty key/);
  throws(() => parseResourceAttributes("a=%E0%A4%A"), /bad percent-encoding/);
  deepStrictEqual(parseKeyValueList("x=%F0%9F%98%80"), { x: "😀" });
});

Deno.test("resourceAttributesFromEnv: OTEL_SERVICE_NAME wins; a malformed list is dropped whole", () => {
  deepStrictEqual(
    resourceAttributesFromEnv(envOf({
      OTEL_RESOURCE_ATTRIBUTES: "service.name=from-attrs,team=core",
      OTEL_SERVICE_NAME: "from-name",
    })),
    { attributes: { "service.name": "from-name", "team": "core" }, warnings: [] },
  );
  const bad = resourceAttributesFromEnv(
    envOf({ OTEL_RESOURCE_ATTRIBUTES: "team=core,oops", OTEL_SERVICE_NAME: "svc" }),
  );
  deepStrictEqual(bad.attributes, { "service.name": "svc" });
  strictEqual(bad.warnings.length, 1);
  deepStrictEqual(resourceAttributesFromEnv(envOf({})), { attributes: {}, warnings: [] });
});
