/**
 * The project's module graph as Deno sees it (`deno info --json`), for the tests that hold the
 * layout together: which module imports which (values and types apart), and the order in which
 * an entry's modules are evaluated.
 *
 * Requires `--allow-run=deno` and `--allow-read` of the project.
 *
 * @module
 */

/** One import of a module: what it names and where it resolves. */
export interface Dependency {
  /** The specifier as written, e.g. `./log.ts` or `kafkajs`. */
  written: string;
  /** Where it resolves, e.g. `lib/ops/log.ts` (project files, relative to the root) or `npm:kafkajs@2.2.4`. */
  resolved: string;
  /** A value import (evaluated), not only `import type`. */
  value: boolean;
  /** 0-based line of the specifier in the importing file (source order). */
  line: number;
  /** Column of the specifier on that line. */
  column: number;
}

/** The graph: each project module (path relative to the root) and its imports in source order. */
export type ModuleGraph = Map<string, Dependency[]>;

const ROOT = new URL("../../", import.meta.url).href;

interface InfoDependency {
  specifier: string;
  code?: { specifier: string; span: { start: { line: number; character: number } } };
  type?: { specifier: string; span: { start: { line: number; character: number } } };
}

const name = (specifier: string) => specifier.startsWith(ROOT) ? specifier.slice(ROOT.length) : specifier;

/** The module graph of `roots` (project paths), merged. */
export async function moduleGraph(roots: readonly string[]): Promise<ModuleGraph> {
  const graph: ModuleGraph = new Map();
  for (const root of roots) {
    if (graph.has(root)) continue;
    const { success, stdout, stderr } = await new Deno.Command("deno", {
      args: ["info", "--json", root],
      cwd: new URL(ROOT),
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!success) throw new Error(`deno info ${root} failed: ${new TextDecoder().decode(stderr)}`);
    const info = JSON.parse(new TextDecoder().decode(stdout)) as {
      modules: { specifier: string; dependencies?: InfoDependency[] }[];
      redirects: Record<string, string>;
    };
    const redirect = (s: string) => info.redirects[s] ?? s;
    for (const m of info.modules) {
      if (!m.specifier.startsWith(ROOT)) continue;
      const deps: Dependency[] = [];
      for (const d of m.dependencies ?? []) {
        const at = d.code ?? d.type;
        if (at === undefined) continue;
        deps.push({
          written: d.specifier,
          resolved: name(redirect(at.specifier)).replace(/^npm:\//, "npm:"),
          value: d.code !== undefined,
          line: at.span.start.line,
          column: at.span.start.character,
        });
      }
      deps.sort((a, b) => a.line - b.line || a.column - b.column);
      graph.set(name(m.specifier), deps);
    }
  }
  return graph;
}

/**
 * The order in which ES modules are evaluated from `root`: depth first through value imports in
 * source order, a module after everything it imports. npm packages appear as their specifiers
 * (`npm:kafkajs@2.2.4`), at the point they are first evaluated.
 */
export function evaluationOrder(graph: ModuleGraph, root: string): string[] {
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = (module: string) => {
    if (seen.has(module)) return;
    seen.add(module);
    for (const d of graph.get(module) ?? []) if (d.value) visit(d.resolved);
    order.push(module);
  };
  visit(root);
  return order;
}

/** Every `.ts` file under `dir` (a project path such as `lib/`), sorted. */
export async function tsFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (path: string) => {
    for await (const entry of Deno.readDir(new URL(path, ROOT))) {
      if (entry.isDirectory) await walk(`${path}${entry.name}/`);
      else if (entry.isFile && entry.name.endsWith(".ts")) out.push(`${path}${entry.name}`);
    }
  };
  await walk(dir);
  return out.sort();
}

/** The cycles among `modules` (each as a list of modules), following value and type imports. */
export function cycles(graph: ModuleGraph, modules: readonly string[]): string[][] {
  const inSet = new Set(modules);
  const found: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (m: string) => {
    state.set(m, "open");
    stack.push(m);
    for (const d of graph.get(m) ?? []) {
      if (!inSet.has(d.resolved)) continue;
      const s = state.get(d.resolved);
      if (s === "open") found.push([...stack.slice(stack.indexOf(d.resolved)), d.resolved]);
      else if (s === undefined) visit(d.resolved);
    }
    stack.pop();
    state.set(m, "done");
  };
  for (const m of modules) if (!state.has(m)) visit(m);
  return found;
}
