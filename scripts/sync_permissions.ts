#!/usr/bin/env -S deno run --allow-read=deno.json,producer.ts,consumer.ts,scripts/migrate.ts,scripts/maintain.ts --allow-write=deno.json,producer.ts,consumer.ts,scripts/migrate.ts,scripts/maintain.ts
/**
 * `deno task permissions`: writes what scripts/programs.ts derives into the places that must hold
 * it literally: each entry script's shebang (the defaults' permissions) and the `producer`,
 * `consumer` and `db:migrate` tasks (the launcher with the program's env names), and the env names
 * of the `compile` tasks (both programs'), and the `dev` tasks (scripts/dev.ts's names). Run it after
 * adding or renaming a setting; `tests/project_test.ts` fails until they agree.
 *
 * @module
 */
import { envNames } from "../lib/config/mod.ts";
import { PROGRAMS, runFlags } from "./programs.ts";
import { DEV_ENV } from "./dev.ts";

/** The deno.json task that launches a program. */
export function launcherTask(name: keyof typeof PROGRAMS): string {
  return `deno run --allow-env=${
    envNames(PROGRAMS[name].table).join(",")
  } --ignore-env --allow-run=deno scripts/launch.ts ${name}`;
}

/** The env names `deno task compile` reads: both programs' (their settings decide the binaries' permissions). */
export function compileEnvNames(): string[] {
  return [...new Set([...envNames(PROGRAMS.producer.table), ...envNames(PROGRAMS.consumer.table)])].sort();
}

/** The `compile` and `compile:check` tasks. */
export function compileTasks(): Record<"compile" | "compile:check", string> {
  const env = `--allow-env=${compileEnvNames().join(",")} --ignore-env --allow-run=deno`;
  return {
    compile: `deno run ${env} --allow-read=dist --allow-write=dist scripts/compile.ts`,
    "compile:check":
      `deno run ${env} --allow-read=.cache/compile-check --allow-write=.cache/compile-check scripts/compile.ts --check`,
  };
}

/** The `dev` and `dev:down` tasks: dev's own env names, loopback only, its state folder (and prometheus/ for its Prometheus). */
export function devTasks(): Record<"dev" | "dev:down", string> {
  const state = "--allow-read=.cache/dev --allow-write=.cache/dev";
  return {
    dev: `deno run --allow-env=${
      DEV_ENV.join(",")
    } --ignore-env --allow-net=127.0.0.1 --allow-run=bash,deno,setsid --allow-read=.cache/dev,prometheus --allow-write=.cache/dev scripts/dev.ts`,
    "dev:down": `deno run --allow-run=bash ${state} scripts/dev.ts down`,
  };
}

/** The shebang of a program's entry script. */
export function shebang(name: keyof typeof PROGRAMS): string {
  return `#!/usr/bin/env -S deno run ${runFlags(name, [], () => undefined).join(" ")}`;
}

if (import.meta.main) {
  const root = new URL("..", import.meta.url);
  const configUrl = new URL("deno.json", root);
  const config = JSON.parse(await Deno.readTextFile(configUrl));
  let changed = 0;
  for (const name of Object.keys(PROGRAMS) as (keyof typeof PROGRAMS)[]) {
    if (config.tasks[name] !== launcherTask(name)) (config.tasks[name] = launcherTask(name), changed++);
    const url = new URL(PROGRAMS[name].script, root);
    const text = await Deno.readTextFile(url);
    const lines = text.split("\n");
    const next = lines[0]!.startsWith("#!") ? [shebang(name), ...lines.slice(1)] : [shebang(name), ...lines];
    if (next.join("\n") !== text) (await Deno.writeTextFile(url, next.join("\n")), changed++);
  }
  for (const [task, command] of Object.entries({ ...compileTasks(), ...devTasks() })) {
    if (config.tasks[task] !== command) (config.tasks[task] = command, changed++);
  }
  await Deno.writeTextFile(configUrl, JSON.stringify(config, null, 2) + "\n");
  console.log(changed === 0 ? "permissions are in sync" : `updated ${changed} task(s) and shebang(s)`);
}
