import assert from "node:assert/strict";
import { CommitChains } from "./commit_chain.ts";

/** A promise with its resolve and reject. */
function deferred() {
  let resolve!: () => void, reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets every queued microtask and timer callback run. */
const tick = () => new Promise((r) => setTimeout(r, 0));

Deno.test("commits of a partition run in batch order whatever order the stores finish in", async (t) => {
  const cases: { name: string; finish: number[] }[] = [
    { name: "in order", finish: [0, 1, 2, 3] },
    { name: "reversed", finish: [3, 2, 1, 0] },
    { name: "middle first", finish: [2, 1, 3, 0] },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const chains = new CommitChains();
      const stores = c.finish.map(() => deferred());
      const committed: number[] = [];
      stores.forEach((s, i) => chains.add(0, s.promise, () => void committed.push(i)));
      const done = new Set<number>();
      for (const i of c.finish) {
        stores[i]!.resolve();
        done.add(i);
        await tick();
        // a commit runs only when its batch and every earlier one are stored
        let prefix = 0;
        while (done.has(prefix)) prefix++;
        assert.deepEqual(committed, [...Array(prefix).keys()]);
      }
      await chains.settled();
      assert.equal(chains.size, 0);
    });
  }
});

Deno.test("a failed store stops its partition's later commits and reports once; other partitions go on", async () => {
  const chains = new CommitChains();
  const committed: string[] = [];
  const failures: unknown[] = [];
  const p0 = [deferred(), deferred(), deferred()];
  const p1 = deferred();
  p0.forEach((s, i) => chains.add(0, s.promise, () => void committed.push(`0:${i}`), (e) => failures.push(e)));
  chains.add(1, p1.promise, () => void committed.push("1:0"));
  p0[0]!.resolve();
  p0[1]!.reject(new Error("stopped while the database was down"));
  p0[2]!.resolve();
  p1.resolve();
  await chains.settled();
  assert.deepEqual(committed.sort(), ["0:0", "1:0"]);
  assert.equal(failures.length, 1);
  assert.match(String(failures[0]), /database was down/);
});

Deno.test("settled() waits for commits queued while it waits", async () => {
  const chains = new CommitChains();
  const first = deferred();
  const committed: number[] = [];
  chains.add(0, first.promise, () => {
    committed.push(1);
    chains.add(0, Promise.resolve(), () => void committed.push(2));
  });
  const settled = chains.settled();
  first.resolve();
  await settled;
  assert.deepEqual(committed, [1, 2]);
});
