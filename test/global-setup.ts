// Vitest global setup: CLI, determinism and benchmark-style tests run the
// built JavaScript in dist/ (as users do). Build it once per test run when it
// is missing or older than any source file, so `npx vitest run` works on a
// dirty tree without racing parallel builds.

import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

export default function setup(): void {
  const entry = join(ROOT, "dist/cli/main.js");
  const stale = !existsSync(entry) || newestMtime(join(ROOT, "src")) > statSync(entry).mtimeMs || statSync(join(ROOT, "proto/policy.wit")).mtimeMs > statSync(entry).mtimeMs;
  if (stale) execFileSync("npm", ["run", "--silent", "build"], { cwd: ROOT, stdio: "inherit" });
}
