/**
 * The operations HTTP endpoint of the consumer and the producer, on `Deno.serve`:
 *
 * - `GET /metrics`: Prometheus text exposition (see `lib/metrics.ts`);
 * - `GET /healthz`: 200 while the process runs (liveness);
 * - `GET /readyz`: 200 when every readiness check passes, else 503; the JSON body names each
 *   check and its state.
 *
 * Requires `--allow-net=<host>:<port>` for the address it listens on (127.0.0.1:9464 for the
 * consumer, 127.0.0.1:9465 for the producer by default).
 *
 * @module
 */
import type { Logger } from "./log.ts";
import type { ReadinessReport } from "./metrics.ts";
import { requireNet } from "./permissions.ts";

/** What the endpoint serves: metrics text and readiness. */
export interface Observable {
  /** The Prometheus text exposition. */
  metrics(): Promise<string>;
  /** Content type of {@link Observable.metrics}. */
  readonly contentType: string;
  /** The current readiness. */
  readiness(): ReadinessReport;
}

/**
 * The request handler of the endpoint (exported for tests; {@link serveOps} listens with it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHandler } from "./http.ts";
 * import { ProducerMetrics } from "./metrics.ts";
 * const handle = createHandler(new ProducerMetrics());
 * const response = await handle(new Request("http://127.0.0.1:9465/readyz"));
 * assert.equal(response.status, 503); // not connected yet
 * assert.deepEqual((await response.json()).checks.kafka, { ok: false, detail: "not connected" });
 * ```
 */
export function createHandler(source: Observable): (request: Request) => Promise<Response> {
  return async (request) => {
    const { pathname } = new URL(request.url);
    if (!["/metrics", "/healthz", "/readyz"].includes(pathname)) {
      return text(404, "not found: try /metrics, /healthz or /readyz\n");
    }
    if (request.method !== "GET" && request.method !== "HEAD") {
      return text(405, "method not allowed\n", { allow: "GET, HEAD" });
    }
    if (pathname === "/healthz") return text(200, "ok\n");
    if (pathname === "/readyz") {
      const report = source.readiness();
      return new Response(JSON.stringify(report) + "\n", {
        status: report.ready ? 200 : 503,
        headers: { "content-type": "application/json", "cache-control": "no-store" },
      });
    }
    return new Response(await source.metrics(), {
      headers: { "content-type": source.contentType, "cache-control": "no-store" },
    });
  };
}

function text(status: number, body: string, headers: Record<string, string> = {}): Response {
  return new Response(body, { status, headers: { "content-type": "text/plain; charset=utf-8", ...headers } });
}

/** Options of {@link serveOps}. */
export interface ServeOpsOptions {
  /** Address to listen on, e.g. `127.0.0.1`. */
  hostname: string;
  /** Port to listen on (above 0). */
  port: number;
  /** What to serve. */
  source: Observable;
  /** Says where it listens, and logs handler errors. */
  log: Logger;
}

/** A listening endpoint; {@link OpsServer.shutdown} (or `await using`) stops it. */
export interface OpsServer extends AsyncDisposable {
  /** Base URL, e.g. `http://127.0.0.1:9464`. */
  readonly url: string;
  /** Stops listening and finishes the requests in flight. */
  shutdown(): Promise<void>;
}

/** The `host:port` form that `--allow-net` and `Deno.permissions` use for a listen address. */
export function listenAddress(hostname: string, port: number): string {
  return `${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
}

/**
 * Starts serving `/metrics`, `/healthz` and `/readyz`.
 *
 * Requires `--allow-net=<hostname>:<port>`.
 *
 * @throws {Error} naming the address when it cannot listen (in use, not permitted, no such
 *   address), with the original error as `cause`
 * @example
 * ```ts ignore
 * await using ops = serveOps({ hostname: "127.0.0.1", port: 9464, source: metrics, log });
 * ```
 */
export function serveOps(options: ServeOpsOptions): OpsServer {
  const { hostname, port, source, log } = options;
  const address = listenAddress(hostname, port);
  const url = `http://${address}`;
  let server: Deno.HttpServer;
  try {
    server = Deno.serve({
      hostname,
      port,
      onListen: () => log.info("serving metrics and health", { url: `${url}/metrics` }),
      onError: (error) => {
        log.error("metrics endpoint failed to answer", { error });
        return text(500, "internal error\n");
      },
    }, createHandler(source));
  } catch (error) {
    const why = error instanceof Deno.errors.AddrInUse
      ? "the address is in use (is another consumer or producer running here? --metrics-port 0 turns the endpoint off)"
      : error instanceof Error
      ? error.message
      : String(error);
    throw new Error(`Cannot serve metrics on ${address}: ${why}`, { cause: error });
  }
  let stopped: Promise<void> | undefined;
  const shutdown = () => stopped ??= server.shutdown();
  return { url, shutdown, [Symbol.asyncDispose]: shutdown };
}

/** The settings {@link startOpsServer} reads (both option tables in `lib/config.ts` have them). */
export interface OpsSettings {
  /** `--metrics-host`. */
  metricsHost: string;
  /** `--metrics-port`; 0 turns the endpoint off. */
  metricsPort: number;
}

/**
 * Starts the endpoint as configured: checks first that the listen address is in `--allow-net`
 * (a refusal names the setting rather than widening permissions), then listens. Returns null
 * when the port is 0 (off).
 *
 * Requires `--allow-net=<metricsHost>:<metricsPort>`.
 *
 * @throws {Deno.errors.NotCapable} when the address is not in `--allow-net`
 * @throws {Error} when it cannot listen (see {@link serveOps})
 */
export async function startOpsServer(
  settings: OpsSettings,
  source: Observable,
  log: Logger,
): Promise<OpsServer | null> {
  if (settings.metricsPort === 0) return null;
  const address = listenAddress(settings.metricsHost, settings.metricsPort);
  await requireNet([address], "--metrics-host/--metrics-port (HEARTBEAT_METRICS_HOST and the metrics port variable)");
  return serveOps({ hostname: settings.metricsHost, port: settings.metricsPort, source, log });
}
