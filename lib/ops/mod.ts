/**
 * Operations: what every part reports into and the program's shell. Structured logs (`log.ts`)
 * and Prometheus metrics with readiness (`metrics.ts`) are leaves: they import nothing of the
 * pipeline, the loops report into them through small interfaces. `http.ts` serves `/metrics`,
 * `/healthz` and `/readyz`; `shutdown.ts` turns signals into an `AbortSignal`; `progress.ts`
 * prints the live status line; `permissions.ts` checks hosts against the granted permissions.
 *
 * @module
 */
export { createLogger, type Level, LEVELS, type Logger } from "./log.ts";
export { ConsumerMetrics, ProducerMetrics, type ReadinessReport } from "./metrics.ts";
export { startOpsServer } from "./http.ts";
export { onShutdown, type Shutdown, sleep } from "./shutdown.ts";
export { formatCount, formatDuration, Progress } from "./progress.ts";
export { isCompiled, remedy, requireNet } from "./permissions.ts";
