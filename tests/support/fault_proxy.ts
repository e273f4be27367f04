/**
 * A TCP fault proxy for tests: listens on a loopback port, forwards every connection to a target,
 * and degrades the link on demand, at run time, for current and new connections alike, in both
 * directions:
 *
 * - {@link FaultProxy.passThrough}: forward as is (the initial mode);
 * - {@link FaultProxy.latency}: each chunk is delivered `ms` after it was read (pipelined: the
 *   throughput stays, the round trip grows by twice `ms`);
 * - {@link FaultProxy.bandwidth}: at most `bytesPerSecond` per direction and connection;
 * - {@link FaultProxy.blackHole}: connections are accepted and kept, nothing is forwarded (what was
 *   read is held, as TCP would retransmit it) for `seconds` or until another mode is set;
 * - {@link FaultProxy.reset}: closes every current connection, and with `refuseNew` stops
 *   listening (new connections are refused) until {@link FaultProxy.acceptNew}.
 *
 * Deno cannot send a TCP RST (no SO_LINGER), so a reset closes the sockets (FIN): the peers see the
 * connection end in the middle of whatever they were doing. Kafka clients connect to the addresses
 * the brokers advertise, so a proxy in front of a broker only sees a client's traffic when that
 * broker advertises the proxy's port (scripts/kafka-cluster.sh, KAFKA_CLUSTER_ADVERTISED_PORTS).
 *
 * Requires `--allow-net=127.0.0.1:<listen port>,<target host:port>`.
 *
 * @module
 */

/** Where a proxy listens and where it forwards. */
export interface FaultProxyOptions {
  /** The loopback port to listen on. */
  port: number;
  /** The target it forwards to. */
  target: { hostname: string; port: number };
}

/** The proxy's mode; see the module documentation. */
export type ProxyMode =
  | { kind: "pass" }
  | { kind: "latency"; ms: number }
  | { kind: "bandwidth"; bytesPerSecond: number }
  | { kind: "blackhole" };

/** A failure of the proxy itself (not of a forwarded connection). */
export class FaultProxyError extends Error {
  override name = "FaultProxyError";
}

/** Most bytes read ahead of the writer per direction (then reading waits: back-pressure). */
const MAX_QUEUED_BYTES = 1 << 20;

interface Chunk {
  data: Uint8Array;
  /** When it was read, performance.now(). */
  at: number;
}

interface Link {
  client: Deno.Conn;
  upstream: Deno.Conn;
  closed: boolean;
  /** Resolved when the link is closed. */
  done: PromiseWithResolvers<void>;
}

/** A running proxy; `await using` closes it and every connection. */
export class FaultProxy implements AsyncDisposable {
  readonly #o: FaultProxyOptions;
  #listener: Deno.Listener | null = null;
  #accepting: Promise<void> | null = null;
  #mode: ProxyMode = { kind: "pass" };
  #blackHoleTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #links = new Set<Link>();
  readonly #pumps = new Set<Promise<void>>();
  /** Resolved (and replaced) whenever the mode changes or the proxy closes. */
  #changed = Promise.withResolvers<void>();
  #closed = false;
  #accepted = 0;

  private constructor(options: FaultProxyOptions) {
    this.#o = options;
  }

  /**
   * Starts a proxy in pass-through mode.
   *
   * @throws {FaultProxyError} when the port cannot be listened on
   */
  static start(options: FaultProxyOptions): FaultProxy {
    const proxy = new FaultProxy(options);
    proxy.#listen();
    return proxy;
  }

  /** The port it listens on. */
  get port(): number {
    return this.#o.port;
  }

  /** The current mode. */
  get mode(): ProxyMode {
    return this.#mode;
  }

  /** Connections open now. */
  get connections(): number {
    return this.#links.size;
  }

  /** Connections accepted and forwarded since the start. */
  get accepted(): number {
    return this.#accepted;
  }

  /** Forwards as is. */
  passThrough(): void {
    this.#set({ kind: "pass" });
  }

  /** Delivers each chunk `ms` after it was read, both directions. */
  latency(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`latency must be ≥ 0 ms, got ${ms}`);
    this.#set({ kind: "latency", ms });
  }

  /** Caps each direction of each connection at `bytesPerSecond`. */
  bandwidth(bytesPerSecond: number): void {
    if (!(bytesPerSecond > 0)) throw new RangeError(`bandwidth must be > 0 bytes/s, got ${bytesPerSecond}`);
    this.#set({ kind: "bandwidth", bytesPerSecond });
  }

  /** Forwards nothing (connections stay open) for `seconds`, or until another mode is set. */
  blackHole(seconds?: number): void {
    this.#set({ kind: "blackhole" });
    if (seconds !== undefined) {
      this.#blackHoleTimer = setTimeout(() => this.passThrough(), seconds * 1000);
    }
  }

  /**
   * Closes every current connection; with `refuseNew`, also stops listening, so that new
   * connections are refused until {@link FaultProxy.acceptNew}.
   */
  async reset(options: { refuseNew?: boolean } = {}): Promise<void> {
    if (options.refuseNew) await this.#stopListening();
    for (const link of this.#links) this.#closeLink(link);
  }

  /** Listens again after a `reset({ refuseNew: true })`. */
  acceptNew(): void {
    if (this.#listener === null && !this.#closed) this.#listen();
  }

  /** Stops listening and closes every connection. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#blackHoleTimer);
    await this.#stopListening();
    for (const link of this.#links) this.#closeLink(link);
    this.#notify();
    await Promise.allSettled([...this.#pumps]);
  }

  /** Same as {@link FaultProxy.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #set(mode: ProxyMode): void {
    clearTimeout(this.#blackHoleTimer);
    this.#blackHoleTimer = undefined;
    this.#mode = mode;
    this.#notify();
  }

  #notify(): void {
    this.#changed.resolve();
    this.#changed = Promise.withResolvers<void>();
  }

  /** Waits `ms`, or less when the mode changes or the link closes meanwhile. */
  #pause(link: Link, ms: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    return Promise.race([
      new Promise<void>((r) => timer = setTimeout(r, ms)),
      this.#changed.promise,
      link.done.promise,
    ]).finally(() => clearTimeout(timer));
  }

  #listen(): void {
    try {
      this.#listener = Deno.listen({ hostname: "127.0.0.1", port: this.#o.port });
    } catch (cause) {
      throw new FaultProxyError(`cannot listen on 127.0.0.1:${this.#o.port}`, { cause });
    }
    const listener = this.#listener;
    this.#accepting = (async () => {
      try {
        for await (const client of listener) this.#track(this.#forward(client));
      } catch { /* the listener was closed */ }
    })();
  }

  async #stopListening(): Promise<void> {
    const listener = this.#listener;
    this.#listener = null;
    if (listener === null) return;
    try {
      listener.close();
    } catch { /* already closed */ }
    await this.#accepting;
  }

  #track(pump: Promise<void>): void {
    this.#pumps.add(pump);
    pump.finally(() => this.#pumps.delete(pump));
  }

  async #forward(client: Deno.Conn): Promise<void> {
    let upstream: Deno.Conn;
    try {
      upstream = await Deno.connect(this.#o.target);
    } catch {
      client.close(); // the target is down: the client sees its connection end
      return;
    }
    const link: Link = { client, upstream, closed: false, done: Promise.withResolvers<void>() };
    this.#links.add(link);
    this.#accepted++;
    if (this.#closed) this.#closeLink(link);
    await Promise.allSettled([this.#direction(link, client, upstream), this.#direction(link, upstream, client)]);
    this.#closeLink(link);
  }

  #closeLink(link: Link): void {
    this.#links.delete(link);
    if (link.closed) return;
    link.closed = true;
    link.done.resolve();
    for (const conn of [link.client, link.upstream]) {
      try {
        conn.close();
      } catch { /* already closed */ }
    }
  }

  /** One direction: a reader that queues what it reads, a writer that delivers it as the mode says. */
  async #direction(link: Link, from: Deno.Conn, to: Deno.Conn): Promise<void> {
    const queue: (Chunk | null)[] = [];
    let queued = 0;
    let wakeWriter = Promise.withResolvers<void>();
    let wakeReader = Promise.withResolvers<void>();
    const reader = async () => {
      try {
        while (!link.closed) {
          while (queued > MAX_QUEUED_BYTES && !link.closed) {
            await Promise.race([wakeReader.promise, link.done.promise]);
            wakeReader = Promise.withResolvers<void>();
          }
          const buffer = new Uint8Array(64 * 1024);
          const n = await from.read(buffer);
          if (n === null) break;
          queue.push({ data: buffer.subarray(0, n), at: performance.now() });
          queued += n;
          wakeWriter.resolve();
        }
      } finally {
        queue.push(null);
        wakeWriter.resolve();
      }
    };
    const writer = async () => {
      while (!link.closed) {
        if (queue.length === 0) {
          await Promise.race([wakeWriter.promise, this.#changed.promise, link.done.promise]);
          wakeWriter = Promise.withResolvers<void>();
          continue;
        }
        const chunk = queue[0]!;
        if (chunk === null) break;
        if (this.#mode.kind === "blackhole") {
          await Promise.race([this.#changed.promise, link.done.promise]);
          continue;
        }
        if (this.#mode.kind === "latency") {
          const wait = chunk.at + this.#mode.ms - performance.now();
          if (wait > 0) {
            await this.#pause(link, wait);
            continue; // the mode may have changed meanwhile
          }
        }
        if (this.#mode.kind === "bandwidth") {
          // a slice of at most a tenth of a second's worth, then the time it takes at the cap
          const rate = this.#mode.bytesPerSecond;
          const size = Math.max(1, Math.min(chunk.data.length, Math.floor(rate / 10)));
          await writeAll(to, chunk.data.subarray(0, size));
          chunk.data = chunk.data.subarray(size);
          queued -= size;
          if (chunk.data.length === 0) queue.shift();
          wakeReader.resolve();
          wakeReader = Promise.withResolvers<void>();
          await this.#pause(link, (size / rate) * 1000);
          continue;
        }
        await writeAll(to, chunk.data);
        queue.shift();
        queued -= chunk.data.length;
        wakeReader.resolve();
        wakeReader = Promise.withResolvers<void>();
      }
    };
    try {
      await Promise.all([reader(), writer()]);
    } finally {
      this.#closeLink(link); // one side ended or failed: the peers see the connection end
      wakeReader.resolve();
    }
  }
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let written = 0;
  while (written < data.length) written += await conn.write(data.subarray(written));
}
