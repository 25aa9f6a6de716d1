// A real HTTP decision-log sink for the tests: node:http on 127.0.0.1, an
// ephemeral port that survives stop()/start() (so "sink down, then up" is the
// same URL refusing connections, then answering). Each request is recorded
// with its arrival time, headers and parsed body; the answer is scripted per
// request; the number of requests open at once is tracked.

import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { DecisionRecord } from "../../src/executive/decision-log.js";

export interface SinkRequest {
  /** performance.now() when the request arrived. */
  at: number;
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The body as received. */
  raw: string;
  records: DecisionRecord[];
  /** Status the sink answered (0: never answered). */
  status: number;
}

export interface SinkAnswer {
  status: number;
  headers?: Record<string, string>;
  /** Answer after this many ms. */
  delayMs?: number;
  /** Never answer (the connection stays open until the sink stops). */
  hang?: boolean;
}

/** Decides the answer to the n-th request (0-based). Default: 200. */
export type SinkScript = (n: number, req: SinkRequest) => SinkAnswer | number;

export class TestSink {
  readonly requests: SinkRequest[] = [];
  script: SinkScript = () => 200;
  /** Requests being handled right now, and the most ever at once. */
  open = 0;
  maxOpen = 0;
  private server: Server | undefined;
  private readonly hung: ServerResponse[] = [];

  private constructor(readonly port: number) {}

  /** A sink listening on an ephemeral port. */
  static async start(): Promise<TestSink> {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const sink = new TestSink(port);
    await sink.up();
    return sink;
  }

  /** A sink URL nobody listens on yet (call up() to start answering). */
  static async down(): Promise<TestSink> {
    const sink = await TestSink.start();
    await sink.down();
    return sink;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/v1/decisions?tenant=t1`;
  }

  /** Every record received, in arrival order (duplicates included). */
  get records(): DecisionRecord[] {
    return this.requests.flatMap((r) => r.records);
  }

  /** Records of the requests answered 2xx. */
  get accepted(): DecisionRecord[] {
    return this.requests.filter((r) => r.status >= 200 && r.status < 300).flatMap((r) => r.records);
  }

  async up(): Promise<void> {
    if (this.server) return;
    const server = createServer((req, res) => {
      this.open++;
      this.maxOpen = Math.max(this.maxOpen, this.open);
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const raw = Buffer.concat(chunks).toString("utf8");
        let records: DecisionRecord[] = [];
        try {
          records = (JSON.parse(raw) as { records: DecisionRecord[] }).records;
        } catch {
          // asserted by the tests through `raw`
        }
        const entry: SinkRequest = { at: performance.now(), method: req.method ?? "", path: req.url ?? "", headers: req.headers, raw, records, status: 0 };
        this.requests.push(entry);
        const a = this.script(this.requests.length - 1, entry);
        const answer: SinkAnswer = typeof a === "number" ? { status: a } : a;
        const finish = (): void => {
          entry.status = answer.status;
          this.open--;
          res.writeHead(answer.status, { "content-type": "application/json", ...answer.headers });
          res.end(answer.status < 300 ? '{"ok":true}' : '{"error":"scripted"}');
        };
        if (answer.hang) {
          this.hung.push(res);
          res.on("close", () => this.open--);
        } else if (answer.delayMs) setTimeout(finish, answer.delayMs);
        else finish();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, "127.0.0.1", () => resolve());
    });
    this.server = server;
  }

  /** Stop listening and cut every connection: the URL now refuses connections. */
  async down(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const res of this.hung.splice(0)) res.destroy();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }
}

/** Poll until `cond()` holds; fail with `what` after `timeoutMs`. */
export async function waitFor(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
