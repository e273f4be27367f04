import assert from "node:assert/strict";
import { parse } from "yaml";
import { devPrometheusConfig, JOBS, SHIPPED_CONFIG } from "./prometheus.ts";

const ROOT = new URL("../../", import.meta.url);

Deno.test("`devPrometheusConfig()` points the shipped jobs at the programs on loopback and loads the repository's rules", async () => {
  const shipped = parse(await Deno.readTextFile(new URL(SHIPPED_CONFIG, ROOT)));
  const config = devPrometheusConfig(shipped, { consumer: 19464, producer: 19465 }, "/src/prometheus/rules/*.yml");
  assert.deepEqual(config.rule_files, ["/src/prometheus/rules/*.yml"]);
  assert.deepEqual(
    config.scrape_configs.map((j) => [j.job_name, j.static_configs]),
    [
      ["heartbeat-consumer", [{ targets: ["127.0.0.1:19464"] }]],
      ["heartbeat-producer", [{ targets: ["127.0.0.1:19465"] }]],
    ],
  );
  // the rest of the shipped file (scrape and evaluation intervals) is kept
  assert.deepEqual(config.global, (shipped as { global: unknown }).global);
});

Deno.test("`devPrometheusConfig()` refuses a shipped file whose jobs are not the consumer's and the producer's", () => {
  const jobs = (...names: string[]) => ({ scrape_configs: names.map((job_name) => ({ job_name })) });
  assert.throws(
    () => devPrometheusConfig(jobs("heartbeat-consumer"), { consumer: 1, producer: 2 }, "r"),
    /has jobs heartbeat-consumer, expected heartbeat-consumer, heartbeat-producer/,
  );
  assert.throws(
    () => devPrometheusConfig(jobs(...Object.keys(JOBS), "node"), { consumer: 1, producer: 2 }, "r"),
    /Cannot configure dev's Prometheus/,
  );
});
