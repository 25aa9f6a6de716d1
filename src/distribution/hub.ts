// The long-poll hub: holds idle watchers (an open HTTP response each, waiting
// for a newer revision of one bundle) and wakes them on publish.
//
// Cost of an idle watcher: one small object in a per-bundle Set and one timer
// (its own wait timeout); nothing runs while it waits. A publish walks the
// bundle's set once and answers each waiter after a random delay in
// [0, spread), spread = min(wakeSpreadMaxMs, 0.5 ms × waiters): one watcher
// is answered at once, 500 over ≤ 250 ms. The delays are grouped into 5 ms
// buckets (one timer per bucket, not per waiter), so the blob fetches that
// follow arrive as a ramp, not as a thundering herd. Each waiter is answered
// with the bundle's state at send time, so a second publish during the
// spread delivers the newest revision.

/** What a waiter is waiting on; `isFresh` decides whether `state` answers it. */
export interface Waiter<S> {
  /** True when this state should be sent to the waiter (newer revision, different ETag). */
  isFresh(state: S): boolean;
  /** Send the state (called at most once). */
  answer(state: S): void;
  /** Give up: the wait elapsed (called at most once, and only when not answered). */
  timeout(): void;
}

interface Entry<S> {
  waiter: Waiter<S>;
  timer: NodeJS.Timeout | undefined;
  done: boolean;
}

const BUCKET_MS = 5;
const SPREAD_PER_WAITER_MS = 0.5;

export class LongPollHub<S> {
  private readonly byName = new Map<string, Set<Entry<S>>>();
  private count = 0;
  /** Waiters answered because of a publish (metric). */
  woken = 0;

  constructor(private readonly wakeSpreadMaxMs: number) {}

  /** Number of waiters currently held. */
  get size(): number {
    return this.count;
  }

  /** Waiters on one bundle. */
  sizeOf(name: string): number {
    return this.byName.get(name)?.size ?? 0;
  }

  /**
   * Hold `waiter` on `name` for up to `waitMs`. Returns a cancel function
   * (call it when the client goes away) that releases the waiter silently.
   */
  hold(name: string, waiter: Waiter<S>, waitMs: number): () => void {
    let set = this.byName.get(name);
    if (!set) this.byName.set(name, (set = new Set()));
    const entry: Entry<S> = { waiter, timer: undefined, done: false };
    set.add(entry);
    this.count++;
    entry.timer = setTimeout(() => {
      if (this.release(name, entry)) waiter.timeout();
    }, waitMs);
    return () => void this.release(name, entry);
  }

  /** Remove an entry; true when it was still waiting. */
  private release(name: string, e: Entry<S>): boolean {
    if (e.done) return false;
    e.done = true;
    if (e.timer) clearTimeout(e.timer);
    const set = this.byName.get(name);
    if (set?.delete(e)) {
      this.count--;
      if (set.size === 0) this.byName.delete(name);
    }
    return true;
  }

  /**
   * A new state for `name`: wake every waiter it is fresh for, spread over
   * a small random interval. `current` is read again at send time.
   */
  publish(name: string, current: () => S): void {
    const set = this.byName.get(name);
    if (!set || set.size === 0) return;
    const state = current();
    const fresh = [...set].filter((e) => e.waiter.isFresh(state));
    if (fresh.length === 0) return;
    const spreadMs = Math.min(this.wakeSpreadMaxMs, fresh.length * SPREAD_PER_WAITER_MS);
    const buckets = new Map<number, Entry<S>[]>();
    for (const e of fresh) {
      const b = spreadMs < BUCKET_MS ? 0 : Math.floor((Math.random() * spreadMs) / BUCKET_MS);
      const list = buckets.get(b);
      if (list) list.push(e);
      else buckets.set(b, [e]);
    }
    for (const [b, list] of buckets) {
      const send = (): void => {
        const now = current();
        for (const e of list) {
          if (!e.waiter.isFresh(now)) continue; // e.g. answered meanwhile
          if (this.release(name, e)) {
            this.woken++;
            e.waiter.answer(now);
          }
        }
      };
      if (b === 0) send();
      else setTimeout(send, b * BUCKET_MS);
    }
  }

  /** Time out every waiter now (server shutdown). */
  closeAll(): void {
    for (const [name, set] of [...this.byName]) {
      for (const e of [...set]) if (this.release(name, e)) e.waiter.timeout();
    }
  }
}
