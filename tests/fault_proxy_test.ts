/**
 * The fault proxy (tests/support/fault_proxy.ts) against a local echo server: each mode proves its
 * effect on a live connection. Needs nothing but loopback ports 49990 (echo) and 49991 (proxy).
 */
import assert from "node:assert/strict";
import { FaultProxy } from "./support/fault_proxy.ts";

const ECHO_PORT = 49990;
const PROXY_PORT = 49991;

/** An echo server on {@link ECHO_PORT}: every byte comes back. */
function echoServer(): AsyncDisposable {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: ECHO_PORT });
  const conns = new Set<Deno.Conn>();
  const serving = (async () => {
    try {
      for await (const conn of listener) {
        conns.add(conn);
        (async () => {
          const buffer = new Uint8Array(64 * 1024);
          try {
            for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
              let w = 0;
              while (w < n) w += await conn.write(buffer.subarray(w, n));
            }
          } catch { /* closed */ }
          conns.delete(conn);
          try {
            conn.close();
          } catch { /* closed */ }
        })();
      }
    } catch { /* closed */ }
  })();
  return {
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await serving;
    },
  };
}

const connect = () => Deno.connect({ hostname: "127.0.0.1", port: PROXY_PORT });

/** Reads exactly `length` bytes, or returns what came before the end of the stream. */
async function readBytes(conn: Deno.Conn, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let got = 0;
  while (got < length) {
    const n = await conn.read(out.subarray(got));
    if (n === null) break;
    got += n;
  }
  return out.subarray(0, got);
}

/** Writes `bytes` and reads the echo; resolves with the milliseconds it took. */
async function roundTrip(conn: Deno.Conn, bytes: number): Promise<number> {
  const data = crypto.getRandomValues(new Uint8Array(Math.min(bytes, 65_536)));
  const payload = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i += data.length) payload.set(data.subarray(0, Math.min(data.length, bytes - i)), i);
  const t0 = performance.now();
  const reading = readBytes(conn, bytes);
  let w = 0;
  while (w < bytes) w += await conn.write(payload.subarray(w));
  const echoed = await reading;
  const ms = performance.now() - t0;
  assert.deepEqual(echoed, payload, "the echo is the bytes sent, in order");
  return ms;
}

/** Whether `promise` is still pending after `ms`. */
async function pendingAfter(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const pending = Symbol("pending");
  const first = await Promise.race([promise, new Promise((r) => timer = setTimeout(() => r(pending), ms))]);
  clearTimeout(timer);
  return first === pending;
}

interface Case {
  name: string;
  run(proxy: FaultProxy, conn: Deno.Conn): Promise<void>;
}

const cases: Case[] = [
  {
    name: "pass-through delivers every byte both ways, promptly",
    async run(_proxy, conn) {
      const ms = await roundTrip(conn, 200_000);
      assert.ok(ms < 2_000, `200 KB round trip in ${ms.toFixed(0)} ms`);
    },
  },
  {
    name: "latency delays each chunk by the setting in each direction: a round trip takes at least twice it",
    async run(proxy, conn) {
      await roundTrip(conn, 10); // connected and warm
      proxy.latency(300);
      const ms = await roundTrip(conn, 10);
      assert.ok(ms >= 600, `round trip ${ms.toFixed(0)} ms with 300 ms each way`);
      proxy.passThrough();
      const after = await roundTrip(conn, 10);
      assert.ok(after < 300, `round trip ${after.toFixed(0)} ms once the latency is cleared`);
    },
  },
  {
    name: "a bandwidth cap holds the throughput at or under the setting",
    async run(proxy, conn) {
      const rate = 50_000, bytes = 100_000;
      proxy.bandwidth(rate);
      const ms = await roundTrip(conn, bytes);
      // the first slice (a tenth of a second's worth) goes at once; the rest at the cap
      const atLeast = ((bytes - rate / 10) / rate) * 1000;
      assert.ok(ms >= atLeast, `${bytes} bytes in ${ms.toFixed(0)} ms at ${rate} B/s (at least ${atLeast} ms)`);
    },
  },
  {
    name: "a black hole keeps the connection but delivers nothing until cleared, then everything held",
    async run(proxy, conn) {
      await roundTrip(conn, 10);
      proxy.blackHole();
      const echo = readBytes(conn, 1_000);
      await conn.write(new Uint8Array(1_000).fill(7));
      assert.ok(await pendingAfter(echo, 1_000), "nothing comes back while black-holed");
      assert.equal(proxy.connections, 1, "the connection stays open");
      proxy.passThrough();
      const echoed = await echo;
      assert.deepEqual(echoed, new Uint8Array(1_000).fill(7), "what was held is delivered once cleared");
    },
  },
  {
    name: "a timed black hole clears itself after its seconds",
    async run(proxy, conn) {
      await roundTrip(conn, 10);
      proxy.blackHole(1);
      const ms = await roundTrip(conn, 100);
      assert.ok(ms >= 900, `the echo came ${ms.toFixed(0)} ms later, after the 1 s black hole`);
      assert.equal(proxy.mode.kind, "pass");
    },
  },
  {
    name: "a reset closes live connections; new ones are accepted",
    async run(proxy, conn) {
      await roundTrip(conn, 10);
      await proxy.reset();
      const n = await conn.read(new Uint8Array(16)).catch(() => null);
      assert.equal(n, null, "the live connection ended");
      using again = await connect();
      await roundTrip(again, 10);
    },
  },
  {
    name: "a reset refusing new connections refuses them until accepting again",
    async run(proxy, conn) {
      await roundTrip(conn, 10);
      await proxy.reset({ refuseNew: true });
      assert.equal(await conn.read(new Uint8Array(16)).catch(() => null), null, "the live connection ended");
      await assert.rejects(connect(), Deno.errors.ConnectionRefused);
      proxy.acceptNew();
      using again = await connect();
      await roundTrip(again, 10);
    },
  },
];

Deno.test("the fault proxy's modes each have their effect on a live connection", async (t) => {
  await using _echo = echoServer();
  for (const c of cases) {
    await t.step(c.name, async () => {
      await using proxy = FaultProxy.start({ port: PROXY_PORT, target: { hostname: "127.0.0.1", port: ECHO_PORT } });
      using conn = await connect();
      await c.run(proxy, conn);
    });
  }
});

Deno.test("a connection to a proxy whose target is down is closed at once", async () => {
  await using _proxy = FaultProxy.start({ port: PROXY_PORT, target: { hostname: "127.0.0.1", port: ECHO_PORT } });
  using conn = await connect();
  assert.equal(await conn.read(new Uint8Array(16)).catch(() => null), null);
});
