// Shared benchmark helpers: timer-overhead-corrected per-call latency
// percentiles, medians across runs, and plain-text tables.

export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

// Timing uses performance.now() (a double, nanosecond digits): unlike
// process.hrtime.bigint() it allocates nothing, so the measurement itself does
// not add garbage-collection pauses to the tail being measured.

/** Cost of one performance.now() pair in ns, measured now (median of many). */
export function timerOverheadNs() {
  const xs = new Array(20000);
  for (let i = 0; i < xs.length; i++) {
    const a = performance.now();
    const b = performance.now();
    xs[i] = (b - a) * 1e6;
  }
  return median(xs);
}

/**
 * Times `fn` `iterations` times after `warmup` calls; returns {p50, p99, mean}
 * in ns per call with the timer overhead subtracted (floored at 0). With
 * `batch` > 1 each sample is the mean of `batch` consecutive calls — the only
 * honest way to time calls shorter than the timer's own cost.
 *
 * Each call compiles a fresh timing loop (new Function): a loop shared by many
 * scenarios sees many callbacks, its call site goes megamorphic and V8
 * deoptimizes it mid-measurement, which shows up as a fake tail (measured:
 * p99 3 µs instead of 1 µs). Benchmark libraries (mitata, tinybench) do the same.
 */
export function latency(fn, { iterations = 100000, warmup = 50000, overhead = 0, batch = 1 } = {}) {
  const loop = new Function(
    "fn",
    "n",
    "batch",
    "overhead",
    "warmup",
    `for (let i = 0; i < warmup; i++) fn();
     const xs = new Float64Array(n);
     for (let i = 0; i < n; i++) {
       const a = performance.now();
       for (let k = 0; k < batch; k++) fn();
       const b = performance.now();
       xs[i] = Math.max(0, (b - a) * 1e6 - overhead) / batch;
     }
     return xs;`,
  );
  const xs = loop(fn, Math.max(1, Math.floor(iterations / batch)), batch, overhead, warmup);
  xs.sort();
  let sum = 0;
  for (const x of xs) sum += x;
  return { p50: percentile(xs, 50), p99: percentile(xs, 99), mean: sum / xs.length };
}

export function table(headers, rows) {
  const cells = [headers, ...rows].map((r) => r.map(String));
  const widths = headers.map((_, c) => Math.max(...cells.map((r) => r[c].length)));
  const line = (r) => r.map((x, c) => (c === 0 ? x.padEnd(widths[c]) : x.padStart(widths[c]))).join("  ");
  return [line(cells[0]), widths.map((w) => "-".repeat(w)).join("  "), ...cells.slice(1).map(line)].join("\n");
}

export const fmtNs = (ns) => (ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : ns >= 1e3 ? `${(ns / 1e3).toFixed(2)} µs` : `${Math.round(ns)} ns`);
