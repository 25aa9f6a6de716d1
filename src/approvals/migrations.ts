// Versioned schema migrations of the approvals store, one list for both
// dialects. Each migration runs once, in order, in its own transaction, and
// is recorded in `approvals_migrations`. INVARIANT: a shipped migration is
// never edited; schema changes are new versions appended at the end.
//
// Times are integer milliseconds since the epoch (BIGINT); JSON is text.

export interface Migration {
  version: number;
  name: string;
  sqlite: string;
  postgres: string;
}

const common = (serial: string, bigint: string): string => `
CREATE TABLE executions (
  id           TEXT PRIMARY KEY,
  fingerprint  TEXT NOT NULL,
  state        TEXT NOT NULL,
  version      INTEGER NOT NULL,
  requester    TEXT,
  created_at   ${bigint} NOT NULL,
  expires_at   ${bigint} NOT NULL,
  updated_at   ${bigint} NOT NULL,
  consumed_at  ${bigint},
  proposal     TEXT NOT NULL,
  grant_json   TEXT
);
CREATE INDEX executions_state_created ON executions (state, created_at DESC, id DESC);
CREATE INDEX executions_created ON executions (created_at DESC, id DESC);
CREATE INDEX executions_pending_expiry ON executions (expires_at) WHERE state = 'pending';
CREATE UNIQUE INDEX executions_open_fingerprint ON executions (fingerprint) WHERE state IN ('pending', 'approved', 'overridden');
CREATE TABLE transitions (
  execution_id  TEXT NOT NULL REFERENCES executions (id),
  seq           INTEGER NOT NULL,
  state         TEXT NOT NULL,
  at            TEXT NOT NULL,
  actor         TEXT NOT NULL,
  justification TEXT,
  PRIMARY KEY (execution_id, seq)
);
CREATE TABLE decisions (
  execution_id  TEXT NOT NULL REFERENCES executions (id),
  seq           INTEGER NOT NULL,
  approver      TEXT NOT NULL,
  decision      TEXT NOT NULL,
  justification TEXT,
  at            TEXT NOT NULL,
  channel       TEXT NOT NULL,
  accepted      INTEGER NOT NULL,
  reason        TEXT,
  PRIMARY KEY (execution_id, seq)
);
CREATE TABLE used_once (
  kind     TEXT NOT NULL,
  value    TEXT NOT NULL,
  used_at  ${bigint} NOT NULL,
  PRIMARY KEY (kind, value)
);
CREATE TABLE outbox (
  id            ${serial},
  execution_id  TEXT,
  channel       TEXT NOT NULL,
  target        TEXT NOT NULL,
  event         TEXT NOT NULL,
  payload       TEXT NOT NULL,
  created_at    ${bigint} NOT NULL,
  attempts      INTEGER NOT NULL DEFAULT 0,
  next_at       ${bigint} NOT NULL,
  lease_until   ${bigint},
  delivered_at  ${bigint},
  dead          INTEGER NOT NULL DEFAULT 0,
  last_error    TEXT
);
CREATE INDEX outbox_due ON outbox (next_at) WHERE delivered_at IS NULL AND dead = 0;
`;

export const MIGRATIONS: readonly Migration[] = Object.freeze([
  {
    version: 1,
    name: "executions, transitions, decisions, single-use values, outbox",
    sqlite: common("INTEGER PRIMARY KEY AUTOINCREMENT", "INTEGER"),
    postgres: common("BIGSERIAL PRIMARY KEY", "BIGINT"),
  },
]);

export const MIGRATIONS_TABLE_SQL = `CREATE TABLE IF NOT EXISTS approvals_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`;
