// The outbox worker: delivers the notification rows that state changes wrote
// in their own transactions (so a chat outage never loses or blocks a pause).
//
// Delivery is at-least-once: a row is leased for 15 s (so two instances
// never send it at the same time), POSTed, then marked delivered; a crash
// between the POST and the mark re-sends it once the lease runs out. Receivers de-duplicate on
// `x-aecp-delivery-id` (the outbox row id). Failures (non-2xx, network,
// timeout) retry with exponential backoff and jitter up to 5 minutes, and a
// row is given up (`dead`) after `notifyMaxAttempts`.
//
// Generic webhooks are signed:
//   x-aecp-timestamp: <unix seconds>
//   x-aecp-signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>
//
// Lifecycle: start() polls every `notifyPollMs` and on kick(); stop() waits
// for the deliveries in flight.

import { createHmac } from "node:crypto";
import { Agent, request } from "undici";
import type { ApprovalsOptions } from "./options.js";
import type { ApprovalsService } from "./service.js";
import type { ApprovalsStore, OutboxRow } from "./store.js";

/** A claimed row is invisible to other workers this long (3 × the delivery timeout); a crashed worker's rows come back after it. */
const LEASE_MS = 15_000;
const BATCH = 50;
const TIMEOUT_MS = 5000;
const MAX_BACKOFF_MS = 300_000;

export interface NotifierStatus {
  state: "OK" | "WARN" | "STOPPED";
  delivered: number;
  failed: number;
  lastError: string | null;
}

export function webhookSignature(secret: string, timestampS: number, body: string): string {
  return `v1=${createHmac("sha256", secret).update(`${timestampS}.${body}`).digest("hex")}`;
}

export class Notifier {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = true;
  private readonly agent = new Agent({ keepAliveTimeout: 10_000, connections: 8 });
  readonly stats = { delivered: 0, failed: 0, lastError: null as string | null };

  constructor(
    private readonly store: ApprovalsStore,
    private readonly service: ApprovalsService,
    private readonly options: ApprovalsOptions,
  ) {}

  start(): void {
    this.stopped = false;
    this.timer = setInterval(() => this.kick(), this.options.notifyPollMs);
    this.timer.unref();
    this.kick();
  }

  /** Deliver due rows now (coalesced: one pass at a time). */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.pass()
      .catch((e: unknown) => {
        this.stats.lastError = (e as Error).message;
      })
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  private async pass(): Promise<void> {
    for (;;) {
      const rows = await this.store.claimOutbox(Date.now(), BATCH, LEASE_MS);
      if (rows.length === 0) return;
      await Promise.all(rows.map((r) => this.deliver(r)));
      if (rows.length < BATCH || this.stopped) return;
    }
  }

  private async deliver(row: OutboxRow): Promise<void> {
    const headers: Record<string, string> = { "content-type": "application/json", "x-aecp-delivery-id": String(row.id), "x-aecp-event": row.event };
    if (row.channel === "webhook") {
      const secret = this.options.notify.webhooks.find((w) => w.url === row.target)?.secret;
      const ts = Math.floor(Date.now() / 1000);
      if (secret) {
        headers["x-aecp-timestamp"] = String(ts);
        headers["x-aecp-signature"] = webhookSignature(secret, ts, row.payload);
      }
    }
    let error: string | undefined;
    try {
      const res = await request(row.target, { method: "POST", headers, body: row.payload, dispatcher: this.agent, headersTimeout: TIMEOUT_MS, bodyTimeout: TIMEOUT_MS });
      await res.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
      if (res.statusCode < 200 || res.statusCode >= 300) error = `HTTP ${res.statusCode}`;
    } catch (e) {
      error = (e as Error).message;
    }
    if (error === undefined) {
      await this.store.outboxDelivered(row.id, Date.now());
      this.stats.delivered++;
      await this.service.auditNotification(row).catch(() => undefined);
      return;
    }
    this.stats.failed++;
    this.stats.lastError = `${row.channel} delivery ${row.id}: ${error}`;
    const ceiling = Math.min(MAX_BACKOFF_MS, this.options.notifyBackoffMs * 2 ** Math.min(row.attempts - 1, 30));
    const delay = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
    await this.store.outboxFailed(row.id, error, Date.now() + delay, row.attempts >= this.options.notifyMaxAttempts);
  }

  status(): NotifierStatus {
    return { state: this.stopped ? "STOPPED" : this.stats.lastError && this.stats.failed > 0 ? "WARN" : "OK", ...this.stats };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
    await this.agent.close();
  }
}
