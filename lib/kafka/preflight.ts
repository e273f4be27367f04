/**
 * A first word with each bootstrap broker before kafkajs starts: connect (over TLS when
 * configured, with the very TLS options kafkajs will use) and send one ApiVersions request. A
 * wrong CA, a certificate for another name, a missing client certificate, TLS to a plaintext
 * port or plaintext to a TLS port all fail here within seconds, with one line that names the
 * broker and the setting to check, where kafkajs would retry a connection error for a long time.
 * A broker that does not answer at all is left to kafkajs' own retries (it may still be starting).
 *
 * Requires `--allow-net=<brokers>`.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import net from "node:net";
import tls from "node:tls";

/** The TLS options of the Kafka clients, or false for plaintext. */
export type BrokerTls = false | tls.ConnectionOptions;

/** A broker refused or garbled the first exchange: the message says what to check. */
export class BrokerHandshakeError extends Error {
  /** @param message one line naming the broker and the setting to check */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "BrokerHandshakeError";
  }
}

/** An ApiVersions v0 request (key 18), correlation id 1, client id `heartbeat-preflight`. */
function apiVersionsRequest(): Uint8Array {
  const clientId = Buffer.from("heartbeat-preflight");
  const body = Buffer.alloc(2 + 2 + 4 + 2 + clientId.length);
  body.writeInt16BE(18, 0);
  body.writeInt16BE(0, 2);
  body.writeInt32BE(1, 4);
  body.writeInt16BE(clientId.length, 8);
  clientId.copy(body, 10);
  const size = Buffer.alloc(4);
  size.writeInt32BE(body.length, 0);
  return Buffer.concat([size, body]);
}

/** What the first exchange with one broker gave. */
type Outcome = { ok: true } | { ok: false; unreachable: boolean; why: string };

/** Connects to `host:port`, sends ApiVersions and waits for the first 8 bytes of the answer. */
function exchange(broker: string, options: BrokerTls, timeoutMs: number): Promise<Outcome> {
  const at = broker.lastIndexOf(":");
  const host = broker.slice(0, at).replace(/^\[|\]$/g, "");
  const port = Number(broker.slice(at + 1));
  return new Promise((resolve) => {
    let settled = false;
    let connected = false;
    let got = Buffer.alloc(0);
    const done = (outcome: Outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const socket: net.Socket = options === false
      ? net.connect({ host, port }, () => {
        connected = true;
        socket.write(apiVersionsRequest());
      })
      : tls.connect({ host, port, servername: net.isIP(host) ? undefined : host, ...options }, () => {
        connected = true;
        socket.write(apiVersionsRequest());
      });
    const timer = setTimeout(() => {
      done(
        connected
          ? { ok: false, unreachable: false, why: `no Kafka answer within ${timeoutMs / 1000} s` }
          : { ok: false, unreachable: true, why: "no connection" },
      );
    }, timeoutMs);
    socket.on("data", (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      if (got.length < 8) return;
      const size = got.readInt32BE(0), correlation = got.readInt32BE(4);
      if (correlation === 1 && size > 4 && size < 1 << 20) done({ ok: true });
      else done({ ok: false, unreachable: false, why: "the answer is not Kafka's protocol" });
    });
    socket.on("error", (error: Error & { code?: string }) => {
      const refused = ["ECONNREFUSED", "ENOTFOUND", "EHOSTUNREACH", "ETIMEDOUT", "EAI_AGAIN"].includes(
        error.code ?? "",
      );
      done({ ok: false, unreachable: !connected && refused, why: error.message.split("\n")[0] ?? String(error) });
    });
    socket.on("close", () => done({ ok: false, unreachable: false, why: "the broker closed the connection" }));
  });
}

/**
 * Checks the first exchange with every bootstrap broker that accepts a connection.
 *
 * @param brokers bootstrap brokers, `host:port`
 * @param options the clients' TLS options, or false for plaintext
 * @param timeoutMs how long one broker may take to answer
 * @throws {BrokerHandshakeError} naming the broker and what to check
 */
export async function checkBrokers(
  brokers: readonly string[],
  options: BrokerTls,
  timeoutMs = 10_000,
): Promise<void> {
  for (const broker of brokers) {
    const outcome = await exchange(broker, options, timeoutMs);
    if (outcome.ok || outcome.unreachable) continue;
    const hint = options === false
      ? "is it a TLS listener? then set --kafka-security ssl or sasl_ssl (KAFKA_SECURITY_PROTOCOL)"
      : /certificate|self.signed|verify|altname|alert|handshake|wrong version|SSL/i.test(outcome.why)
      ? "check --kafka-ca-file, --kafka-servername, --kafka-cert-file/--kafka-key-file, or whether the listener speaks TLS at all"
      : "is it a plaintext listener? then set --kafka-security plaintext (KAFKA_SECURITY_PROTOCOL)";
    throw new BrokerHandshakeError(
      `Kafka broker ${broker} over ${options === false ? "plaintext" : "TLS"}: ${outcome.why} (${hint})`,
    );
  }
}
