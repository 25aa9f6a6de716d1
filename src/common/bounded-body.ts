// Reading an HTTP response body with a ceiling: the shared piece of every
// AECP client that talks to another service (audit reader, distribution
// client and watcher, OCI registry). Takes any stream that undici or Node
// hands out; knows nothing about HTTP itself.

/** A response body: async-iterable chunks that can be destroyed. */
export interface BodyStream extends AsyncIterable<unknown> {
  on(event: "error", fn: () => void): unknown;
  destroy(): unknown;
}

/** Drop a body we will not read (a late error from it is expected and ignored). */
export function discardBody(body: BodyStream): void {
  body.on("error", () => undefined);
  body.destroy();
}

/**
 * Read a whole body of at most `limit` bytes. Past the limit the body is
 * discarded and `tooLarge()` is thrown, so memory stays bounded whatever the
 * peer sends; stream errors (a connection cut mid-body) propagate as they are.
 */
export async function readBoundedBody(body: BodyStream, limit: number, tooLarge: () => Error): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const c of body) {
    const chunk = c as Buffer;
    total += chunk.length;
    if (total > limit) {
      discardBody(body);
      throw tooLarge();
    }
    chunks.push(chunk);
  }
  return new Uint8Array(Buffer.concat(chunks));
}
