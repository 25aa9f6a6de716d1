// `aecp approvals [--db <sqlite-file | postgres://…>] [--listen <host:port>] --config <approvals.yaml>`
// Runs the approvals service until SIGINT/SIGTERM. The database defaults to
// an embedded SQLite file (approvals.db); a postgres:// URL uses PostgreSQL
// (several instances may share it). AECP_APPROVALS_DB overrides the default
// database (a flag still wins), so a PostgreSQL password need not appear in
// the process list.

import { dirname, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { AecpError } from "../../common/index.js";
import { ApprovalsApp, approvalsOptions, isPostgresUrl, APPROVALS_DB_DEFAULT, APPROVALS_LISTEN_DEFAULT } from "../../approvals/index.js";
import { readText, EXIT_OK } from "../io.js";

export interface ApprovalsCliOptions {
  db?: string;
  listen?: string;
  config: string;
}

export async function approvalsCommand(o: ApprovalsCliOptions): Promise<number> {
  let doc: unknown;
  try {
    doc = parseYaml(readText(o.config), { maxAliasCount: 100 });
  } catch (e) {
    if (e instanceof AecpError) throw e;
    throw new AecpError("AECP_CONFIG_INVALID", `\`${o.config}\` is not valid YAML: ${(e as Error).message.split("\n")[0]}`);
  }
  const options = approvalsOptions(doc ?? {}, dirname(resolve(o.config)));
  const db = o.db ?? process.env["AECP_APPROVALS_DB"] ?? APPROVALS_DB_DEFAULT;
  const app = await ApprovalsApp.start({ db, listen: o.listen ?? APPROVALS_LISTEN_DEFAULT, options });
  const where = isPostgresUrl(db) ? "PostgreSQL" : `SQLite ${db}`;
  process.stdout.write(
    `aecp approvals ready on ${app.url} (${where}; ${options.approvers.size} approvers, ${options.serviceTokens.size} service tokens` +
      `${options.notify.slackWebhookUrl ? ", Slack" : ""}${options.notify.webhooks.length ? `, ${options.notify.webhooks.length} webhooks` : ""}` +
      `${options.grantKey ? ", override grants" : ", override disabled (no grant_key)"}${options.auditKey ? ", signed audit checkpoints" : ""})\n`,
  );
  await new Promise<void>((done) => {
    process.once("SIGINT", () => done());
    process.once("SIGTERM", () => done());
  });
  await app.stop();
  return EXIT_OK;
}
