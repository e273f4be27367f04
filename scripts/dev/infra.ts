/**
 * Kafka and PostgreSQL for `deno task dev`: what already answers is used as it is; when neither
 * does, the compose stack if a Docker engine answers; otherwise what is missing is started by the
 * local scripts (scripts/kafka.sh, jars via Maven; scripts/postgres.sh, a throw-away cluster). Each thing started is returned as a
 * {@link Started} record, which is all that is needed to stop it again, also from another process
 * (`deno task dev:down`).
 *
 * Requires `--allow-run=bash,docker` and `--allow-net=127.0.0.1`.
 *
 * @module
 */

/** Something `dev` started, and how to stop it. */
export type Started =
  | {
    kind: "script";
    name: "Kafka" | "PostgreSQL";
    script: "scripts/kafka.sh" | "scripts/postgres.sh";
    env: Record<string, string>;
  }
  | { kind: "compose"; services: string[] };

/** Where the pipeline's services are, and what was started to get them. */
export interface Infra {
  /** docker: the compose stack (with Grafana); local: this machine's processes. */
  mode: "docker" | "local";
  started: Started[];
  /** Grafana's address, when something answers there. */
  grafana?: string;
}

/** Thrown when the services cannot be had; the message is the one line to print. */
export class InfraError extends Error {
  /** @param message one line saying what is missing and what to install */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "InfraError";
  }
}

/** What {@link startInfra} needs. */
export interface InfraOptions {
  infra: "auto" | "docker" | "local";
  kafkaPort: number;
  postgresPort: number;
  /** Env passed to the scripts besides the ports (KAFKA_DATA, PG_DATA, … as the user set them). */
  scriptEnv: Record<string, string>;
  /** Prints one line of dev's own. */
  say: (line: string) => void;
  /** The project root (the scripts' cwd). */
  root: URL;
}

/** Whether something accepts a TCP connection on 127.0.0.1:port. */
export async function answers(port: number): Promise<boolean> {
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    return true;
  } catch {
    return false;
  }
}

/** Runs a bash command line; its output goes to this process's unless captured. */
async function bash(
  line: string,
  options: { root: URL; env?: Record<string, string>; capture?: boolean; timeoutMs?: number },
): Promise<{ success: boolean; stdout: string }> {
  const command = new Deno.Command("bash", {
    args: ["-c", line],
    cwd: options.root,
    ...(options.env === undefined ? {} : { env: options.env }),
    stdin: "null",
    stdout: options.capture ? "piped" : "inherit",
    stderr: options.capture ? "piped" : "inherit",
    ...(options.timeoutMs === undefined ? {} : { signal: AbortSignal.timeout(options.timeoutMs) }),
  });
  try {
    const out = await command.output();
    return { success: out.success, stdout: options.capture ? new TextDecoder().decode(out.stdout) : "" };
  } catch {
    return { success: false, stdout: "" };
  }
}

/** Whether a command is on the PATH. */
export async function onPath(name: string, root: URL): Promise<boolean> {
  return (await bash(`command -v ${name}`, { root, capture: true })).success;
}

/** Whether a Docker engine answers (not just whether the CLI is installed). */
async function dockerEngine(root: URL): Promise<"answers" | "silent" | "absent"> {
  if (!(await onPath("docker", root))) return "absent";
  const info = await bash("docker info --format '{{.ServerVersion}}'", { root, capture: true, timeoutMs: 10_000 });
  return info.success ? "answers" : "silent";
}

/** Stops one thing `dev` started. */
export async function stopStarted(started: Started, root: URL): Promise<boolean> {
  if (started.kind === "script") {
    return (await bash(`${started.script} stop`, { root, env: started.env })).success;
  }
  return (await bash(`docker compose stop ${started.services.join(" ")}`, { root })).success;
}

/** Gets Kafka and PostgreSQL answering, starting what is missing; see the module doc. */
export async function startInfra(options: InfraOptions): Promise<Infra> {
  const { root, say } = options;
  const have = { kafka: await answers(options.kafkaPort), postgres: await answers(options.postgresPort) };
  let mode: Infra["mode"] = options.infra === "docker" ? "docker" : "local";
  let docker: "answers" | "silent" | "absent" | undefined;
  // auto: the compose stack only when neither answers (it publishes both ports); otherwise what is
  // missing is started here
  if (options.infra === "docker" || (options.infra === "auto" && !have.kafka && !have.postgres)) {
    docker = await dockerEngine(root);
    if (docker === "answers") mode = "docker";
    else if (options.infra === "docker") {
      throw new InfraError(
        docker === "absent"
          ? "--infra docker: no docker command on the PATH (install Docker, or use --infra local)"
          : "--infra docker: docker is installed but its engine does not answer (`docker info` failed): start it",
      );
    }
  }
  const started: Started[] = [];
  if (mode === "docker") {
    say(
      "a Docker engine answers: starting the compose stack (Kafka, PostgreSQL, Grafana): docker compose up -d --wait",
    );
    const before = await bash("docker compose ps --services --status running", { root, capture: true });
    const running = new Set(before.stdout.split("\n").filter((s) => s !== ""));
    const began = performance.now();
    if (!(await bash("docker compose up -d --wait", { root })).success) {
      throw new InfraError("docker compose up -d --wait failed (its messages are above)");
    }
    const all = await bash("docker compose ps --services", { root, capture: true });
    const services = all.stdout.split("\n").filter((s) => s !== "" && !running.has(s));
    if (services.length > 0) started.push({ kind: "compose", services });
    say(`the compose stack is up in ${seconds(began)}`);
    return { mode, started, grafana: "http://127.0.0.1:3000" };
  }
  try {
    if (have.kafka) {
      say(`Kafka answers on 127.0.0.1:${options.kafkaPort}: using it (dev will not stop it)`);
    } else {
      const why = docker === "silent"
        ? "docker is installed but its engine does not answer"
        : docker === "absent"
        ? "no Docker"
        : `nothing answers on 127.0.0.1:${options.kafkaPort}`;
      const java = await onPath("java", root);
      const maven = await onPath("mvn", root) ||
        (await bash("scripts/kafka.sh cached", { root, env: options.scriptEnv, capture: true })).success;
      if (!java || !maven) {
        const missing = [java ? "" : "Java 17+", maven ? "" : "Maven"].filter((s) => s !== "").join(" and ");
        throw new InfraError(
          docker === undefined
            ? `deno task dev needs Java 17+ and Maven to run Kafka on this machine (${why}; ${
              options.infra === "local" ? "--infra local" : "PostgreSQL answers, so not the compose stack"
            }): ${missing} not found (e.g. apt-get install openjdk-17-jre-headless maven)`
            : `deno task dev needs a Docker engine, or Java 17+ and Maven to run Kafka on this machine: ${why}, and ${missing} not found (install Docker, or e.g. apt-get install openjdk-17-jre-headless maven)`,
        );
      }
      say(`${why}: starting Kafka on 127.0.0.1:${options.kafkaPort} with scripts/kafka.sh`);
      started.push(await startScript("Kafka", "scripts/kafka.sh", { KAFKA_PORT: String(options.kafkaPort) }, options));
    }
    if (have.postgres) {
      say(`PostgreSQL answers on 127.0.0.1:${options.postgresPort}: using it (dev will not stop it)`);
    } else {
      say(
        `nothing answers on 127.0.0.1:${options.postgresPort}: starting a throw-away PostgreSQL (scripts/postgres.sh)`,
      );
      started.push(
        await startScript("PostgreSQL", "scripts/postgres.sh", { PG_PORT: String(options.postgresPort) }, options),
      );
    }
  } catch (error) {
    for (const s of started.reverse()) await stopStarted(s, root);
    throw error;
  }
  return { mode, started, ...(await answers(3000) ? { grafana: "http://127.0.0.1:3000" } : {}) };
}

async function startScript(
  name: "Kafka" | "PostgreSQL",
  script: "scripts/kafka.sh" | "scripts/postgres.sh",
  ports: Record<string, string>,
  options: InfraOptions,
): Promise<Started> {
  const env = { ...options.scriptEnv, ...ports };
  if (!(await bash(`${script} start`, { root: options.root, env })).success) {
    throw new InfraError(`could not start ${name} with ${script} start (its messages are above)`);
  }
  return { kind: "script", name, script, env };
}

/** Seconds since a `performance.now()` mark, e.g. `4.2 s`. */
export function seconds(since: number): string {
  return `${((performance.now() - since) / 1000).toFixed(1)} s`;
}
