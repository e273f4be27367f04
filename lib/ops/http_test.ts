import assert from "node:assert/strict";
import { createHandler, listenAddress, type Observable, serveOps, startOpsServer } from "./http.ts";
import { createLogger } from "./log.ts";
import { ProducerMetrics } from "./metrics.ts";

const quiet = createLogger({ level: "error", pretty: false, write: () => {} });

function source(ready: boolean): Observable {
  return {
    contentType: "text/plain; version=0.0.4; charset=utf-8",
    metrics: () => Promise.resolve("# HELP x_total x\n# TYPE x_total counter\nx_total 3\n"),
    readiness: () => ({
      ready,
      checks: { kafka: { ok: true, detail: "connected" }, database: { ok: ready, detail: ready ? "ok" : "failing" } },
    }),
  };
}

const get = (handle: (r: Request) => Promise<Response>, path: string, method = "GET") =>
  handle(new Request(`http://127.0.0.1:9464${path}`, { method }));

Deno.test("/healthz answers 200 whatever the readiness", async () => {
  for (const ready of [true, false]) {
    const response = await get(createHandler(source(ready)), "/healthz");
    assert.equal(response.status, 200);
    assert.equal(await response.text(), "ok\n");
  }
});

Deno.test("/readyz answers 200 when ready and 503 when not, naming every check", async (t) => {
  for (const [ready, status] of [[true, 200], [false, 503]] as const) {
    await t.step(`ready=${ready} → ${status}`, async () => {
      const response = await get(createHandler(source(ready)), "/readyz");
      assert.equal(response.status, status);
      assert.equal(response.headers.get("content-type"), "application/json");
      assert.equal(response.headers.get("cache-control"), "no-store");
      const body = await response.json();
      assert.equal(body.ready, ready);
      assert.deepEqual(Object.keys(body.checks), ["kafka", "database"]);
      assert.equal(body.checks.database.ok, ready);
    });
  }
});

Deno.test("/metrics answers the Prometheus text with its content type", async () => {
  const response = await get(createHandler(source(true)), "/metrics");
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  assert.match(await response.text(), /^x_total 3$/m);
});

Deno.test("/metrics of real producer metrics carries the prom-client exposition", async () => {
  const metrics = new ProducerMetrics();
  metrics.produced(4);
  const response = await get(createHandler(metrics), "/metrics");
  assert.equal(response.headers.get("content-type"), metrics.contentType);
  assert.match(await response.text(), /^heartbeat_producer_messages_produced_total 4$/m);
});

Deno.test("other paths answer 404 and other methods 405 with Allow", async (t) => {
  const handle = createHandler(source(true));
  const cases: [string, string, number][] = [
    ["/", "GET", 404],
    ["/metrics/extra", "GET", 404],
    ["/health", "GET", 404],
    ["/metrics", "POST", 405],
    ["/readyz", "DELETE", 405],
    ["/metrics", "HEAD", 200],
  ];
  for (const [path, method, status] of cases) {
    await t.step(`${method} ${path} → ${status}`, async () => {
      const response = await get(handle, path, method);
      assert.equal(response.status, status);
      if (status === 405) assert.equal(response.headers.get("allow"), "GET, HEAD");
      await response.body?.cancel();
    });
  }
});

Deno.test("listenAddress() writes host:port as --allow-net does, with brackets for IPv6", () => {
  assert.equal(listenAddress("127.0.0.1", 9464), "127.0.0.1:9464");
  assert.equal(listenAddress("localhost", 9465), "localhost:9465");
  assert.equal(listenAddress("::1", 9464), "[::1]:9464");
});

Deno.test("startOpsServer() serves nothing for port 0", async () => {
  const server = await startOpsServer({ metricsHost: "127.0.0.1", metricsPort: 0 }, source(true), quiet);
  assert.equal(server, null);
});

Deno.test("startOpsServer() refuses an address outside --allow-net, naming the settings, instead of prompting", async () => {
  await assert.rejects(
    () => startOpsServer({ metricsHost: "127.0.0.1", metricsPort: 9 }, source(true), quiet),
    (error: Error) => {
      assert.ok(error instanceof Deno.errors.NotCapable);
      assert.match(
        error.message,
        /--metrics-host\/--metrics-port .* names 127\.0\.0\.1:9, which this process may not reach: /,
      );
      return true;
    },
  );
});

Deno.test("serveOps() names the address when it cannot listen", () => {
  assert.throws(
    () => serveOps({ hostname: "127.0.0.1", port: 9, source: source(true), log: quiet }),
    (error: Error) => {
      assert.match(error.message, /^Cannot serve metrics on 127\.0\.0\.1:9: /);
      assert.ok(error.cause instanceof Error);
      return true;
    },
  );
});
