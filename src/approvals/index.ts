// Front door of the approvals layer (issue 5): execution instances, the
// decision state machine, the SQLite/PostgreSQL stores, the HTTP service with
// approver authentication (tokens, signed links, Slack), the notification
// outbox and exception grants. Everything outside src/approvals imports it
// from here.
export * from "./model.js";
export { approvalsOptions, APPROVALS_DEFAULTS } from "./options.js";
export type { ApprovalsOptions, WebhookTarget } from "./options.js";
export type { ApprovalsStore, StoreTx, ExecutionRow, AuditEntryInput, OutboxRow, OutboxItem } from "./store.js";
export { EXECUTION_ID } from "./store.js";
export { MIGRATIONS } from "./migrations.js";
export { SqliteStore } from "./store-sqlite.js";
export type { SqliteAuditSink, SqliteStoreOptions } from "./store-sqlite.js";
export { PgStore } from "./store-pg.js";
export type { PgAuditSink, PgStoreOptions } from "./store-pg.js";
export { ApprovalsService, MAX_WAITERS, toExecution } from "./service.js";
export type { ConsumeOutcome, DecideInput } from "./service.js";
export { parseProposal } from "./proposal.js";
export { signLink, verifyLink } from "./links.js";
export { ApprovalsApp, parseListen, isPostgresUrl, APPROVALS_DB_DEFAULT, APPROVALS_LISTEN_DEFAULT } from "./app.js";
export type { ApprovalsAppConfig } from "./app.js";
export { ApprovalsHttp } from "./server.js";
export { Notifier, webhookSignature } from "./notifier.js";
export { slackSignature, verifySlackSignature, SLACK_WINDOW_S } from "./slack.js";
