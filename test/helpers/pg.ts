// The PostgreSQL the tests use (127.0.0.1:5432, database `test`, or
// AECP_TEST_PG_URL) and one probe of it per test file. Suites that need it
// skip with a printed reason when it is unreachable, but FAIL when CI=true.

import pg from "pg";

export const PG_URL = process.env["AECP_TEST_PG_URL"] ?? "postgres://postgres@127.0.0.1:5432/test";
export const ON_CI = process.env["CI"] === "true";

let pgProbe: Promise<string | undefined> | undefined;
/** Undefined when PostgreSQL answers, else why not. */
export function pgUnavailable(): Promise<string | undefined> {
  pgProbe ??= (async () => {
    const c = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
    try {
      await c.connect();
      await c.query("SELECT 1");
      return undefined;
    } catch (e) {
      return `PostgreSQL at ${PG_URL} unreachable: ${(e as Error).message}`;
    } finally {
      await c.end().catch(() => undefined);
    }
  })();
  return pgProbe;
}
