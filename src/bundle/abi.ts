// The policy module ABI (version 1), shared by the code generator (writer)
// and the evaluator host (reader). docs/abi.md explains it in prose; change
// both together and bump ABI_VERSION on any incompatible change.

import type { Enforcement, SlotType } from "../legislative/index.js";

export const ABI_VERSION = 1;

/** Core exports used by the AECP host (the fast path). */
export const EXPORT_ABI_VERSION = "aecp_abi_version";
export const EXPORT_EVAL = "aecp_eval";
/** Component-model exports (canonical ABI) for the WIT world in proto/policy.wit. */
export const WIT_PACKAGE = "aecp:policy/evaluator@1.0.0";
export const WIT_WORLD = "policy-bundle";
export const EXPORT_CM_ABI_VERSION = `${WIT_PACKAGE}#abi-version`;
export const EXPORT_CM_EVALUATE = `${WIT_PACKAGE}#evaluate`;
export const EXPORT_CM_POST_EVALUATE = `cabi_post_${WIT_PACKAGE}#evaluate`;

/** One input record per attribute slot. */
export const SLOT_STRIDE = 24;
export const SLOT_TAG = 0; // i32: 0 missing, 1 present
export const SLOT_ID = 4; // i32: string id (dictionary id, or >= dictionary size for unknown strings), bool 0/1; -1 when missing
export const SLOT_PTR = 8; // i32: UTF-8 bytes of a string (only for slots flagged needs_bytes)
export const SLOT_LEN = 12; // i32
export const SLOT_NUM = 16; // f64: number value

export const ID_MISSING = -1;

/** Output area written by aecp_eval. */
export const OUT_EFFECT = 0;
export const OUT_DEFAULTED = 4;
export const OUT_N_VIOLATED = 8;
export const OUT_N_WAIVED = 12;
export const OUT_LISTS = 16; // u32[P] violated policy indices, then u32[P] waived

export const EFFECT_ALLOW = 0;
export const EFFECT_DENY = 1;
export const EFFECT_PAUSE = 2;

/** Per-policy function results. */
export const POLICY_OUT_OF_SCOPE = 0;
export const POLICY_SATISFIED = 1;
export const POLICY_VIOLATED = 2;
export const POLICY_WAIVED = 3;

/** Enforcement codes in the module's enforcement table (same numbers as the proto enum). */
export const ENF_BLOCKING = 1;
export const ENF_ADVISORY = 2;
export const ENF_AUDIT_ONLY = 3;
export const ENF_REQUIRE_APPROVAL = 4;
export const ENFORCEMENT_CODE: Readonly<Record<Enforcement, number>> = {
  BLOCKING: ENF_BLOCKING,
  ADVISORY: ENF_ADVISORY,
  AUDIT_ONLY: ENF_AUDIT_ONLY,
  REQUIRE_APPROVAL: ENF_REQUIRE_APPROVAL,
};
export const ENFORCEMENT_BY_CODE: Readonly<Record<number, Enforcement>> = {
  [ENF_BLOCKING]: "BLOCKING",
  [ENF_ADVISORY]: "ADVISORY",
  [ENF_AUDIT_ONLY]: "AUDIT_ONLY",
  [ENF_REQUIRE_APPROVAL]: "REQUIRE_APPROVAL",
};

/** Slot-type codes in the module's slot-type table (same numbers as the proto SlotType enum). */
export const SLOT_TYPE_CODE: Readonly<Record<SlotType, number>> = { string: 1, number: 2, bool: 3, any: 4 };

/** Case indices of the WIT `value` variant (proto/policy.wit), as the canonical ABI lays them out. */
export const WIT_VALUE_MISSING = 0;
export const WIT_VALUE_STR = 1;
export const WIT_VALUE_NUM = 2;
export const WIT_VALUE_BOOLEAN = 3;
/** Size of one `value` element in a canonical-ABI list (discriminant, payload at 8). */
export const WIT_VALUE_SIZE = 16;

/** FNV-1a (32-bit) over UTF-8 bytes: the dictionary hash used inside the module. */
export function fnv1a(bytes: Uint8Array): number {
  let h = 0x811c9dc5 | 0;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i]!;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
