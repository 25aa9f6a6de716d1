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

/** Cost of one hrtime.bigint() pair, measured now (median of many). */
export function timerOverheadNs() {
  const xs = new Array(20000);
  for (let i = 0; i < xs.length; i++) {
    const a = process.hrtime.bigint();
    const b = process.hrtime.bigint();
    xs[i] = Number(b - a);
  }
  return median(xs);
}

/**
 * Times `fn` `iterations` times after `warmup` calls; returns {p50, p99, mean}
 * in ns per call with the timer overhead subtracted (floored at 0). With
 * `batch` > 1 each sample is the mean of `batch` consecutive calls — the only
 * honest way to time calls shorter than the timer's own cost.
 */
export function latency(fn, { iterations = 100000, warmup = 20000, overhead = 0, batch = 1 } = {}) {
  for (let i = 0; i < warmup; i++) fn();
  const n = Math.max(1, Math.floor(iterations / batch));
  const xs = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const a = process.hrtime.bigint();
    for (let k = 0; k < batch; k++) fn();
    const b = process.hrtime.bigint();
    xs[i] = Math.max(0, Number(b - a) - overhead) / batch;
  }
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
