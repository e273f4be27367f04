/**
 * `deno task test`: every test, integration tests included, on any machine with Java 17 + Maven and
 * PostgreSQL's binaries. Kafka (`scripts/kafka.sh`) and PostgreSQL (`scripts/postgres.sh`, a
 * throw-away cluster) are started when nothing answers on 127.0.0.1:9092 or :5432, the tests run with
 * `CI=true` (a missing service fails them, never skips them), and whatever this started is stopped
 * afterwards, also on Ctrl-C. Arguments are passed on to `deno test` (`deno task test tests/cli_test.ts`).
 * `deno task test:unit` runs only what needs no server.
 *
 * Its name must not match `deno test`'s file pattern (`test.ts`, `*_test.ts`): `deno test` would run
 * it as a test module, and it would start `deno test` again. `HEARTBEAT_TEST_RUNNER`, set for the
 * tests it starts, stops it at once should it ever be loaded from within them.
 *
 * Requires `--allow-run=bash,deno`, `--allow-net=127.0.0.1:9092,127.0.0.1:5432` and
 * `--allow-env=HEARTBEAT_TEST_RUNNER`.
 *
 * @module
 */
import { answers } from "./dev/infra.ts";

if (Deno.env.get("HEARTBEAT_TEST_RUNNER") !== undefined) {
  console.error("error: scripts/run_tests.ts started from within the tests it runs; refusing to recurse");
  Deno.exit(2);
}

const ROOT = new URL("..", import.meta.url);

/** A service this can start: its port, and the script that starts and stops it. */
const SERVICES = [
  { name: "Kafka", port: 9092, script: "scripts/kafka.sh" },
  { name: "PostgreSQL", port: 5432, script: "scripts/postgres.sh" },
] as const;

async function script(path: string, command: string): Promise<boolean> {
  const { success } = await new Deno.Command("bash", { args: [path, command], cwd: ROOT }).output();
  return success;
}

const started: string[] = [];
let code = 1;
try {
  for (const service of SERVICES) {
    if (await answers(service.port)) continue;
    console.error(
      `test: ${service.name} does not answer on 127.0.0.1:${service.port}: starting it (${service.script})`,
    );
    if (!(await script(service.script, "start"))) {
      console.error(`error: could not start ${service.name} with ${service.script} start (its messages are above)`);
      Deno.exit(1);
    }
    started.push(service.script);
  }
  const child = new Deno.Command("deno", {
    args: ["task", "test:run", ...Deno.args],
    cwd: ROOT,
    env: { CI: "true", HEARTBEAT_TEST_RUNNER: "1" },
  }).spawn();
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => {
      try {
        child.kill(signal);
      } catch { /* already gone */ }
    });
  }
  code = (await child.status).code;
} finally {
  for (const path of started.reverse()) {
    console.error(`test: stopping what this started (${path} stop)`);
    await script(path, "stop");
  }
}
Deno.exit(code);
