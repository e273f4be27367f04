/**
 * Child processes of the benchmark: the real producer and consumer scripts started exactly as
 * their `deno task` does (the flags are read from deno.json by `tests/tasks.ts`), their JSON log
 * lines, and their memory.
 *
 * Deno asks for `--allow-all` before it reads anything under `/proc`, so memory is read with
 * `cat /proc/<pid>/status` and child processes are listed with `ps`: requires
 * `--allow-run=deno,cat,ps` (and `java` for the Kafka perf tool) and `--allow-read` of deno.json.
 *
 * @module
 */
import { terminate } from "../tests/support/process.ts";
import { taskArgs } from "../tests/support/tasks.ts";

const ROOT = new URL("..", import.meta.url);

/** Every process id this bench spawned (scripts, the Java perf tool), to tell its CPU from others'. */
export const spawnedPids: Set<number> = new Set();

/** One parsed JSON log line of a child (`{level, time, msg, ...fields}`). */
export type LogLine = Record<string, unknown> & { msg?: string; level?: string };

/** A running task script. */
export interface TaskProcess extends AsyncDisposable {
  /** What it is, for messages. */
  name: string;
  /** Its process id. */
  pid: number;
  /** When it was spawned (`performance.now()`). */
  startedAt: number;
  /** Its JSON log lines so far. */
  lines: LogLine[];
  /** Its last raw stderr/stdout lines (non-JSON included), for error messages. */
  tail(n?: number): string;
  /** Exit status, once it exits. */
  status: Promise<Deno.CommandStatus>;
  /** Resolves with the first log line (arriving from now on or already seen) that `match` accepts. */
  waitForLine(match: (line: LogLine) => boolean, timeoutMs: number): Promise<LogLine>;
  /** Sends a signal; ignores a process already gone. */
  kill(signal?: Deno.Signal): void;
  /** SIGTERM, then SIGKILL if it is still running after `graceMs`; resolves with its status. */
  stop(graceMs?: number): Promise<Deno.CommandStatus>;
}

/** Options of {@link spawnTask}. */
export interface SpawnOptions {
  /** Extra `deno run` flags put right after `run` (e.g. `--cpu-prof`). */
  denoFlags?: string[];
  /** Environment of the child (it starts from an empty environment, as the tests do). */
  env?: Record<string, string>;
}

/**
 * Starts a task's script with the task's exact `deno run` flags plus `args`, as `deno task <task>`
 * would, in an empty environment but `LOG_LEVEL=info`. Logs are JSON lines (stderr is a pipe).
 */
export async function spawnTask(
  task: string,
  name: string,
  args: string[],
  options: SpawnOptions = {},
): Promise<TaskProcess> {
  const env = { LOG_LEVEL: "info", ...options.env };
  const base = await taskArgs(task, args, env); // ["run", ...flags, "script.ts"], as deno task would

  const [run, ...rest] = base;
  const child = new Deno.Command("deno", {
    args: [run ?? "run", ...(options.denoFlags ?? []), ...rest, ...args],
    clearEnv: true,
    env,
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  spawnedPids.add(child.pid);
  const startedAt = performance.now();
  const lines: LogLine[] = [];
  const raw: string[] = [];
  const watchers = new Set<{ match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }>();
  const take = (text: string) => {
    raw.push(text);
    if (raw.length > 400) raw.splice(0, raw.length - 200);
    if (!text.startsWith("{")) return;
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      return;
    }
    lines.push(line);
    for (const w of watchers) {
      if (w.match(line)) {
        watchers.delete(w);
        w.resolve(line);
      }
    }
  };
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    let rest = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop() ?? "";
      for (const p of parts) take(p);
    }
    if (rest !== "") take(rest);
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const status = child.status.then(async (s) => {
    await pumps;
    return s;
  });
  const kill = (signal: Deno.Signal = "SIGTERM") => {
    try {
      child.kill(signal);
    } catch { /* already gone */ }
  };
  const tail = (n = 20) => raw.slice(-n).join("\n");
  let exited = false;
  void status.then(() => exited = true);
  const stop = (graceMs = 20_000) => terminate(child, status, graceMs);
  return {
    name,
    pid: child.pid,
    startedAt,
    lines,
    tail,
    status,
    kill,
    stop,
    waitForLine(match, timeoutMs) {
      const seen = lines.find(match);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise<LogLine>((resolve, reject) => {
        const timer = setTimeout(() => {
          watchers.delete(w);
          reject(new Error(`${name}: no matching log line within ${timeoutMs / 1000} s; last lines:\n${tail()}`));
        }, timeoutMs);
        const w = {
          match,
          resolve: (l: LogLine) => {
            clearTimeout(timer);
            resolve(l);
          },
        };
        watchers.add(w);
        void status.then(() => {
          if (!watchers.delete(w)) return;
          clearTimeout(timer);
          reject(new Error(`${name} exited before the expected log line; last lines:\n${tail()}`));
        });
      });
    },
    async [Symbol.asyncDispose]() {
      if (!exited) await stop(5_000);
    },
  };
}

/** Memory of a process from `/proc/<pid>/status`, in MiB, and its CPU time from `/proc/<pid>/stat`. */
export interface Memory {
  /** Resident set size now (VmRSS). */
  rssMiB: number;
  /** Peak resident set size over the process's life (VmHWM). */
  peakMiB: number;
  /** User + system CPU clock ticks (1/100 s) used so far. */
  cpuTicks: number;
}

async function output(cmd: string, args: string[], evenOnFailure = false): Promise<string | null> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "null", clearEnv: true }).output();
    return out.success || evenOnFailure ? new TextDecoder().decode(out.stdout) : null;
  } catch {
    return null;
  }
}

/** Reads VmRSS and VmHWM of `pid`; null once the process is gone. */
export async function readMemory(pid: number): Promise<Memory | null> {
  const text = await output("cat", [`/proc/${pid}/status`, `/proc/${pid}/stat`]);
  if (text === null) return null;
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? NaN);
  const stat = new RegExp(`^${pid} \\(.*\\) (.*)$`, "m").exec(text)?.[1]?.split(" ") ?? [];
  return { rssMiB: kb("VmRSS") / 1024, peakMiB: kb("VmHWM") / 1024, cpuTicks: Number(stat[11]) + Number(stat[12]) };
}

/** The direct children of `pid` as `pid command` pairs (to check that `deno run` does not fork). */
export async function childProcesses(pid: number): Promise<{ pid: number; command: string }[]> {
  const text = await output("ps", ["--ppid", String(pid), "-o", "pid=,comm="]);
  if (text === null) return [];
  return text.split("\n").map((l) => l.trim()).filter((l) => l !== "").map((l) => {
    const [p, ...cmd] = l.split(/\s+/);
    return { pid: Number(p), command: cmd.join(" ") };
  });
}

/** The long flags a task's script lists in its `--help` (to pass only flags it knows). */
export async function taskFlags(task: string): Promise<Set<string>> {
  const [run, ...rest] = await taskArgs(task);
  const text = await output("deno", [run ?? "run", ...rest, "--help"], true) ?? "";
  return new Set([...text.matchAll(/--([a-z][a-z0-9-]*)/g)].map((m) => m[1]!));
}

/** Process ids of running Kafka brokers (`java ... kafka.Kafka`), to notice a broker restart during a phase. */
export async function brokerPids(): Promise<number[]> {
  const text = await output("ps", ["-C", "java", "-o", "pid=,args="]) ?? "";
  return text.split("\n").filter((l) => / kafka\.Kafka /.test(l)).map((l) => Number(l.trim().split(/\s+/)[0]));
}

/** The command line of `pid`. */
export async function commandLine(pid: number): Promise<string> {
  return (await output("cat", [`/proc/${pid}/cmdline`]))?.split("\0").filter((s) => s !== "").join(" ") ?? "";
}

/** Samples a process's RSS periodically and keeps its peak. */
export class MemorySampler {
  /** `[seconds since start, RSS MiB]` pairs. */
  readonly samples: [number, number][] = [];
  /** Largest VmHWM seen (MiB). */
  peakMiB = 0;
  /** CPU ticks used by the process at the last sample. */
  cpuTicks = 0;
  readonly #pid: number;
  readonly #began = performance.now();
  readonly #timer: ReturnType<typeof setInterval>;
  #busy = false;

  /**
   * @param pid the process
   * @param everyMs sampling interval
   */
  constructor(pid: number, everyMs = 1000) {
    this.#pid = pid;
    this.#timer = setInterval(() => void this.sample(), everyMs);
  }

  /** Takes one sample now. */
  async sample(): Promise<Memory | null> {
    if (this.#busy) return null;
    this.#busy = true;
    try {
      const m = await readMemory(this.#pid);
      if (m !== null) {
        this.samples.push([(performance.now() - this.#began) / 1000, m.rssMiB]);
        if (m.peakMiB > this.peakMiB) this.peakMiB = m.peakMiB;
        if (m.cpuTicks > this.cpuTicks) this.cpuTicks = m.cpuTicks;
      }
      return m;
    } finally {
      this.#busy = false;
    }
  }

  /** Takes a last sample (the peak up to now) and stops. */
  async stop(): Promise<number> {
    clearInterval(this.#timer);
    await this.sample();
    return this.peakMiB;
  }
}

/** Runs a command to completion, capturing its output. */
export async function runCommand(
  cmd: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string; ms: number; peakMiB: number }> {
  const child = new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped", stdin: "null" }).spawn();
  spawnedPids.add(child.pid);
  const sampler = new MemorySampler(child.pid, 500);
  const began = performance.now();
  const [out, err] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
  ]);
  const status = await child.status;
  const peakMiB = await sampler.stop();
  return { code: status.code, stdout: out, stderr: err, ms: performance.now() - began, peakMiB };
}

/** CPU counters of the machine and of every process at one moment (from `/proc/stat` and `/proc/<pid>/stat`). */
export interface CpuSnapshot {
  /** `performance.now()` when taken. */
  at: number;
  /** Machine-wide clock ticks, all cores: total, busy (user, system, irq), in processes (user + system), stolen by the hypervisor. */
  totalTicks: number;
  busyTicks: number;
  processTicks: number;
  stealTicks: number;
  /** Per process: command name and user + system clock ticks. */
  procs: Map<number, { comm: string; ticks: number }>;
}

/** Takes a {@link CpuSnapshot}; null when `/proc` cannot be read. */
export async function cpuSnapshot(): Promise<CpuSnapshot | null> {
  const pids = (await output("ps", ["-e", "-o", "pid="]))?.split("\n").map((l) => l.trim()).filter((l) => l !== "");
  if (pids === undefined) return null;
  const text = await output("cat", ["/proc/stat", ...pids.map((p) => `/proc/${p}/stat`)], true);
  if (text === null) return null;
  const snap: CpuSnapshot = {
    at: performance.now(),
    totalTicks: 0,
    busyTicks: 0,
    processTicks: 0,
    stealTicks: 0,
    procs: new Map(),
  };
  for (const line of text.split("\n")) {
    if (line.startsWith("cpu ")) {
      // user nice system idle iowait irq softirq steal guest guest_nice (guest time is inside user)
      const t = line.trim().split(/\s+/).slice(1).map(Number);
      const at = (i: number) => t[i] ?? 0;
      snap.totalTicks = at(0) + at(1) + at(2) + at(3) + at(4) + at(5) + at(6) + at(7);
      snap.processTicks = at(0) + at(1) + at(2);
      snap.busyTicks = snap.processTicks + at(5) + at(6);
      snap.stealTicks = at(7);
      continue;
    }
    const m = /^(\d+) \((.*)\) (.*)$/.exec(line);
    if (m === null) continue;
    const f = m[3]!.split(" "); // fields from state (3rd) on: utime is the 14th field, stime the 15th
    snap.procs.set(Number(m[1]), { comm: m[2]!, ticks: Number(f[11]) + Number(f[12]) });
  }
  return snap;
}

/** Where CPU went between two snapshots, in percent of one core. */
export interface CpuUsage {
  /** Seconds between the snapshots. */
  wallS: number;
  /** Machine-wide busy share of all cores (user, system, irq), percent. */
  machineBusyPct: number;
  /** Share of all cores the hypervisor gave to other virtual machines (steal), percent. */
  stealPct: number;
  /**
   * Process CPU (user + system) that no process alive at the end accounts for, percent of one core:
   * processes that started and ended within the interval (other users' short-lived tools, but also
   * our own closed database connections).
   */
  unaccountedPctOfCore: number;
  /** The busiest commands inside `other`, percent of one core. */
  otherCommands: Record<string, number>;
  /** Percent of one core by group (named pid groups, then `pg: background`, `java`, and `other`). */
  pctOfCore: Record<string, number>;
}

/**
 * CPU used between `a` and `b`, grouped: each named pid list, then PostgreSQL's unlisted processes
 * (as `pg: background`), Java (the broker, or the perf tool while it runs), and everything else
 * (other users' work included).
 * A process that started in between counts fully; one that exited in between is missed (a
 * {@link CpuTracker} samples in between to miss less).
 */
export function cpuUsage(a: CpuSnapshot, b: CpuSnapshot, groups: Record<string, number[]>): CpuUsage {
  const wallS = (b.at - a.at) / 1000;
  const hz = 100; // USER_HZ on Linux
  const byPid = new Map<number, string>();
  for (const [name, pids] of Object.entries(groups)) for (const p of pids) byPid.set(p, name);
  const ticks: Record<string, number> = {};
  const otherByCommand = new Map<string, number>();
  for (const name of Object.keys(groups)) ticks[name] = 0;
  for (const [pid, p] of b.procs) {
    // unlisted PostgreSQL processes (the postmaster, exited backends) count as its background
    const group = byPid.get(pid) ?? (p.comm === "postgres" ? "pg: background" : p.comm === "java" ? "java" : "other");
    const used = Math.max(0, p.ticks - (a.procs.get(pid)?.ticks ?? 0));
    ticks[group] = (ticks[group] ?? 0) + used;
    if (group === "other" && used > 0) otherByCommand.set(p.comm, (otherByCommand.get(p.comm) ?? 0) + used);
  }
  const pctOfCore: Record<string, number> = {};
  let seen = 0;
  for (const [k, t] of Object.entries(ticks)) {
    pctOfCore[k] = Math.round(100 * t / hz / wallS);
    seen += t;
  }
  const total = b.totalTicks - a.totalTicks;
  return {
    wallS,
    machineBusyPct: total > 0 ? Math.round(100 * (b.busyTicks - a.busyTicks) / total) : NaN,
    stealPct: total > 0 ? Math.round(100 * (b.stealTicks - a.stealTicks) / total) : NaN,
    unaccountedPctOfCore: Math.max(0, Math.round(100 * ((b.processTicks - a.processTicks) - seen) / hz / wallS)),
    pctOfCore,
    otherCommands: Object.fromEntries(
      [...otherByCommand].sort((x, y) => y[1] - x[1]).slice(0, 6).map((
        [c, t],
      ) => [c, Math.round(100 * t / hz / wallS)]),
    ),
  };
}

/**
 * Follows CPU use over an interval with a snapshot every `everyMs`, so that processes which start
 * and end within the interval (other users' short test processes, our own closed connections) are
 * counted too when they live longer than a sampling period.
 */
export class CpuTracker {
  readonly #everyMs: number;
  #first: CpuSnapshot | null = null;
  #prev: CpuSnapshot | null = null;
  #used = new Map<number, { comm: string; ticks: number }>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #busy: Promise<void> = Promise.resolve();

  /** @param everyMs sampling period */
  constructor(everyMs = 2000) {
    this.#everyMs = everyMs;
  }

  /** Takes the first snapshot and starts sampling. */
  async start(): Promise<this> {
    this.#first = this.#prev = await cpuSnapshot();
    this.#timer = setInterval(() => this.#busy = this.#busy.then(() => this.#sample()), this.#everyMs);
    return this;
  }

  async #sample(): Promise<void> {
    const cur = await cpuSnapshot();
    if (cur === null || this.#prev === null) return;
    for (const [pid, p] of cur.procs) {
      const before = this.#prev.procs.get(pid);
      const delta = before === undefined ? p.ticks : Math.max(0, p.ticks - before.ticks);
      const u = this.#used.get(pid);
      this.#used.set(pid, { comm: p.comm, ticks: (u?.ticks ?? 0) + delta });
    }
    this.#prev = cur;
  }

  /** Takes a last snapshot, stops, and returns where the CPU went (see {@link cpuUsage}). */
  async stop(groups: Record<string, number[]>): Promise<CpuUsage | undefined> {
    if (this.#timer === undefined) return undefined;
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#busy;
    await this.#sample();
    if (this.#first === null || this.#prev === null) return undefined;
    return cpuUsage({ ...this.#first, procs: new Map() }, { ...this.#prev, procs: this.#used }, groups);
  }
}

/** Formats a {@link CpuUsage} on one line, e.g. `CPU (% of a core) consumer 95%, postgres 60%; machine 98% busy`. */
export function formatCpu(u: CpuUsage | undefined): string {
  if (u === undefined) return "CPU n/a";
  const parts = Object.entries(u.pctOfCore).map(([k, v]) => `${k} ${v}%`);
  return `CPU (% of a core) ${
    parts.join(", ")
  }, unaccounted ${u.unaccountedPctOfCore}%; machine ${u.machineBusyPct}% busy, ${u.stealPct}% stolen`;
}
