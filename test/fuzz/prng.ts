// A small seeded PRNG for the fuzz/property tests (mulberry32). Every fuzz
// test derives its generator from a fixed default seed so CI is deterministic;
// `FUZZ_SEED=<n>` overrides the base seed to explore, and every failure message
// names the seed that reproduces it.

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Rng {
  private readonly next: () => number;

  constructor(readonly seed: number) {
    this.next = mulberry32(seed);
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.next();
  }

  /** Uniform integer in [lo, hi] (inclusive). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error("pick from an empty list");
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** Pick by relative weight: `[[weight, value], ...]`. */
  weighted<T>(items: ReadonlyArray<readonly [number, T]>): T {
    const total = items.reduce((s, [w]) => s + w, 0);
    let r = this.next() * total;
    for (const [w, v] of items) {
      r -= w;
      if (r < 0) return v;
    }
    return items[items.length - 1]![1];
  }

  /** A random subset (each element kept with probability p), order kept. */
  subset<T>(items: readonly T[], p = 0.5): T[] {
    return items.filter(() => this.next() < p);
  }

  /** A string of `len` characters drawn from `alphabet`. */
  string(alphabet: string, len: number): string {
    let s = "";
    for (let i = 0; i < len; i++) s += alphabet[Math.floor(this.next() * alphabet.length)]!;
    return s;
  }

  /** A child generator with an independent stream (for per-case reproducibility). */
  fork(): Rng {
    return new Rng(Math.floor(this.next() * 0x1_0000_0000) >>> 0);
  }
}

/** The base seed: `FUZZ_SEED` when set (decimal or 0x hex), else the test's default. */
export function baseSeed(defaultSeed: number): number {
  const env = process.env["FUZZ_SEED"];
  if (env === undefined || env.trim() === "") return defaultSeed >>> 0;
  const n = Number(env.trim());
  if (!Number.isFinite(n)) throw new Error(`FUZZ_SEED must be a number, got ${JSON.stringify(env)}`);
  // Mix the override with the test's own default so different tests still get different streams.
  return (Math.imul((n >>> 0) ^ 0x9e3779b9, 0x85ebca6b) ^ defaultSeed) >>> 0;
}

/** Iteration scale: `FUZZ_SCALE=10` runs ten times as many cases (local soak runs). */
export function scale(n: number): number {
  const env = process.env["FUZZ_SCALE"];
  const f = env === undefined ? 1 : Number(env);
  return Math.max(1, Math.round(n * (Number.isFinite(f) && f > 0 ? f : 1)));
}
