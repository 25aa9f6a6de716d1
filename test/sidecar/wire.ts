// Test helper: hand-encoded protobuf bytes, for messages a protobufjs client
// refuses to serialize (nesting deeper than its recursion limit), and a raw
// unary call that sends such bytes as they are.

import * as grpc from "@grpc/grpc-js";

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}

/** One length-delimited field (wire type 2): a string, bytes or an embedded message. */
export function ld(field: number, payload: Buffer | string): Buffer {
  const b = typeof payload === "string" ? Buffer.from(payload) : payload;
  return Buffer.concat([varint((field << 3) | 2), varint(b.length), b]);
}

/**
 * CheckRequest for GET `path` whose jwt_authn metadata is a Struct nested
 * `levels` deep: {d: {d: {... {leaf: "x"}}}}.
 */
export function deeplyNestedCheckRequest(path: string, levels: number): Buffer {
  // Struct.fields (1) is map<string, Value>: entry {key (1), value (2)}; Value.struct_value is field 5.
  let struct = ld(1, Buffer.concat([ld(1, "leaf"), ld(2, ld(3, "x"))])); // Value.string_value = 3
  for (let i = 0; i < levels; i++) struct = ld(1, Buffer.concat([ld(1, "d"), ld(2, ld(5, struct))]));
  const http = Buffer.concat([ld(2, "GET"), ld(4, path)]); // HttpRequest.method = 2, path = 4
  const request = ld(2, http); // Request.http = 2
  const metadata = ld(1, Buffer.concat([ld(1, "envoy.filters.http.jwt_authn"), ld(2, struct)])); // Metadata.filter_metadata = 1
  const attributes = Buffer.concat([ld(4, request), ld(11, metadata)]); // AttributeContext.request = 4, metadata_context = 11
  return ld(1, attributes); // CheckRequest.attributes = 1
}

/** A unary Check that sends pre-encoded bytes; the answer is decoded with `deserialize`. */
export function rawCheck<T>(client: grpc.Client, bytes: Buffer, deserialize: (b: Buffer) => T): Promise<T> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      "/envoy.service.auth.v3.Authorization/Check",
      (b: Buffer) => b,
      deserialize,
      bytes,
      new grpc.Metadata(),
      { deadline: Date.now() + 10_000 },
      (err, res) => (err ? reject(err) : resolve(res!)),
    );
  });
}
