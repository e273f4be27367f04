/**
 * The layout's rules, checked on the module graph Deno builds (`deno info --json`), not on the
 * text of import lines: lib/ has no cycle; the domain and the ops leaves import nothing of the
 * pipeline; only storage speaks to PostgreSQL and only kafka to Kafka; every folder has its
 * `mod.ts`; the entry scripts stay thin; and the kafkajs preload is evaluated before kafkajs from
 * every program, script, benchmark and test that loads kafkajs.
 */
import assert from "node:assert/strict";
import { cycles, evaluationOrder, moduleGraph, tsFiles } from "./support/module_graph.ts";

const PRELOAD = "lib/kafka/patches/preload.ts";
const libModules = (await tsFiles("lib/")).filter((f) => !f.endsWith("_test.ts"));
const graph = await moduleGraph(["producer.ts", "consumer.ts", ...libModules]);
const ours = (deps: { resolved: string }[]) => deps.map((d) => d.resolved).filter((r) => !/^(npm|node|jsr):/.test(r));
const folderOf = (path: string) => path.split("/").slice(0, 2).join("/");

Deno.test("lib/ has no import cycle, through value or type imports", () => {
  assert.deepEqual(cycles(graph, libModules), []);
});

Deno.test("each lib module imports only what its folder may stand on", async (t) => {
  // a folder and the folders it may import; everything may import lib/ops (log, metrics, ...)
  const allowed: Record<string, string[]> = {
    "lib/domain": [],
    "lib/ops": [],
    "lib/config": ["lib/ops"],
    "lib/simulator": ["lib/domain", "lib/ops"],
    "lib/storage": ["lib/domain", "lib/ops"],
    "lib/sink": ["lib/domain", "lib/storage", "lib/ops"],
    "lib/kafka": ["lib/domain", "lib/ops"],
  };
  for (const module of libModules) {
    await t.step(module, () => {
      const folder = folderOf(module);
      const may = allowed[folder];
      assert.ok(may !== undefined, `${folder} is not a known folder of lib/`);
      for (const dep of ours(graph.get(module) ?? [])) {
        const to = folderOf(dep);
        assert.ok(to === folder || may.includes(to), `${module} imports ${dep}: ${folder} may not stand on ${to}`);
      }
    });
  }
});

Deno.test("metrics and log are leaves: they import no module of ours", () => {
  for (const leaf of ["lib/ops/metrics.ts", "lib/ops/log.ts"]) assert.deepEqual(ours(graph.get(leaf) ?? []), [], leaf);
});

Deno.test("the reading contract imports nothing but zod and the domain's leaves", () => {
  const deps = (graph.get("lib/domain/reading.ts") ?? []).map((d) => d.resolved).sort();
  assert.deepEqual(deps, ["lib/domain/heart_rate.ts", "lib/domain/timestamp.ts", "npm:zod@4.6.7"]);
  for (const leaf of ["lib/domain/heart_rate.ts", "lib/domain/timestamp.ts"]) {
    assert.deepEqual(graph.get(leaf)?.map((d) => d.resolved), [], `${leaf} is a leaf`);
  }
});

Deno.test("only lib/storage reaches PostgreSQL and only lib/kafka reaches Kafka", async (t) => {
  const only = [["npm:pg@", "lib/storage"], ["npm:kafkajs@", "lib/kafka"]] as const;
  for (const module of ["producer.ts", "consumer.ts", ...libModules]) {
    await t.step(module, () => {
      for (const dep of graph.get(module) ?? []) {
        for (const [pkg, folder] of only) {
          if (dep.resolved.startsWith(pkg)) assert.equal(folderOf(module), folder, `${module} imports ${dep.resolved}`);
        }
      }
    });
  }
});

Deno.test("nothing in lib/ imports an entry script, a test, a benchmark or a script", () => {
  for (const module of libModules) {
    for (const dep of ours(graph.get(module) ?? [])) assert.match(dep, /^lib\//, `${module} imports ${dep}`);
  }
});

Deno.test("every lib folder has a mod.ts with a module doc that re-exports its public face", async (t) => {
  const folders = [...new Set(libModules.map((m) => m.split("/").slice(0, -1).join("/")))];
  for (const folder of folders) {
    await t.step(folder, async () => {
      const text = await Deno.readTextFile(new URL(`../${folder}/mod.ts`, import.meta.url));
      assert.match(text, /^\/\*\*\n[\s\S]*?@module\n \*\//, `${folder}/mod.ts starts with a module doc`);
      assert.match(text, /^export /m, `${folder}/mod.ts exports something`);
    });
  }
});

Deno.test("the entry scripts are thin: at most 80 lines of wiring each", async (t) => {
  for (const script of ["producer.ts", "consumer.ts"]) {
    await t.step(script, async () => {
      const text = await Deno.readTextFile(new URL(`../${script}`, import.meta.url));
      // wiring: not the shebang, the module doc, the imports, comments or blank lines
      const body = text.replace(/^#!.*\n/, "").replace(/^\/\*\*[\s\S]*?\*\/\n/, "")
        .replace(/^import [^;]*;\n/gm, "");
      const wiring = body.split("\n").filter((l) => l.trim() !== "" && !l.trim().startsWith("//"));
      assert.ok(wiring.length <= 80, `${script} has ${wiring.length} lines of wiring`);
    });
  }
});

Deno.test("every program, script, benchmark and test that loads kafkajs evaluates the preload first", async (t) => {
  const roots = [
    "producer.ts",
    "consumer.ts",
    ...await tsFiles("scripts/"),
    ...await tsFiles("bench/"),
    ...(await tsFiles("tests/")).filter((f) => !f.startsWith("tests/testdata/")),
    ...(await tsFiles("lib/")).filter((f) => f.endsWith("_test.ts")),
  ];
  const all = await moduleGraph(roots);
  const loaders: string[] = [];
  for (const root of roots) {
    const order = evaluationOrder(all, root);
    const kafkajs = order.findIndex((m) => /^npm:kafkajs@[^/]+$/.test(m));
    if (kafkajs < 0) continue;
    loaders.push(root);
    await t.step(root, () => {
      const preload = order.indexOf(PRELOAD);
      assert.ok(preload >= 0 && preload < kafkajs, `${root} evaluates kafkajs before ${PRELOAD}: ${order.join(" → ")}`);
    });
  }
  // the guard guards something: both programs load kafkajs
  assert.ok(loaders.includes("producer.ts") && loaders.includes("consumer.ts"), loaders.join(", "));
});

Deno.test("the load-order guard sees kafkajs evaluated first through a multi-line import", async () => {
  const root = "tests/testdata/kafkajs_before_preload.ts";
  const order = evaluationOrder(await moduleGraph([root]), root);
  const kafkajs = order.findIndex((m) => /^npm:kafkajs@[^/]+$/.test(m));
  assert.ok(kafkajs >= 0 && kafkajs < order.indexOf(PRELOAD), order.join(" → "));
});

Deno.test("no module outside the tests is named as deno test finds tests (test.ts, *.test.ts)", async () => {
  // scripts/run_tests.ts once was scripts/test.ts: deno test ran it as a test, and it ran deno test
  const named = [...await tsFiles("scripts/"), ...await tsFiles("lib/"), ...await tsFiles("bench/")]
    .filter((f) => /(^|\/)test\.ts$|\.test\.ts$/.test(f));
  assert.deepEqual(named, []);
});
