/**
 * The programs `deno task dev` runs (db:migrate, the consumer, the producer), each started as the
 * launcher would start it: `deno run` with exactly the permissions its configuration calls for
 * (scripts/programs.ts), in a session of its own (`setsid`, where it exists) so that a Ctrl-C
 * reaches only dev, which then stops them in order. Their lines go through {@link renderLine}.
 *
 * Requires `--allow-run=deno,setsid` (and any other command {@link startProcess} starts).
 *
 * @module
 */
import { PROGRAMS, runArgs } from "../programs.ts";
import { forEachLine, type Paint, renderLine } from "./render.ts";

/** A running program. */
export interface Running {
  name: string;
  pid: number;
  /** Its entry script (the marker `dev:down` checks a pid's command line for). */
  script: string;
  /** Whether it has exited. */
  readonly done: boolean;
  /** Resolves with its exit status, after its last line was printed. */
  status: Promise<Deno.CommandStatus>;
  /** Sends it a signal (no-op when it has exited). */
  kill(signal: Deno.Signal): void;
}

/** How to start a program. */
export interface StartOptions {
  /** Its name in the console. */
  label: string;
  /** Its colour index. */
  index: number;
  /** Its whole environment (nothing else is inherited). */
  env: Record<string, string>;
  root: URL;
  paint: Paint;
  /** Prints a rendered line. */
  print: (line: string) => void;
  /** Wrap it in `setsid`. */
  setsid: boolean;
}

/** Starts `name` with `args`; see the module doc. */
export function startProgram(name: keyof typeof PROGRAMS, args: string[], options: StartOptions): Running {
  return startProcess("deno", [...runArgs(name, args, (n) => options.env[n]), ...args], PROGRAMS[name].script, options);
}

/**
 * Starts any command as {@link startProgram} starts a program (its own session, its lines rendered
 * under its label); `marker` is a word of its command line, which `dev:down` checks before a
 * signal.
 */
export function startProcess(command: string, argv: string[], marker: string, options: StartOptions): Running {
  const child = new Deno.Command(options.setsid ? "setsid" : command, {
    args: options.setsid ? [command, ...argv] : argv,
    cwd: options.root,
    clearEnv: true,
    env: options.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const show = (line: string) => {
    const rendered = renderLine(options.label, options.index, line, options.paint);
    if (rendered !== undefined) options.print(rendered);
  };
  const drained = Promise.all([forEachLine(child.stdout, show), forEachLine(child.stderr, show)]);
  let done = false;
  const status = drained.then(() => child.status, () => child.status).finally(() => (done = true));
  return {
    name: options.label,
    pid: child.pid,
    script: marker,
    get done() {
      return done;
    },
    status,
    kill(signal) {
      try {
        child.kill(signal);
      } catch { /* already exited */ }
    },
  };
}
