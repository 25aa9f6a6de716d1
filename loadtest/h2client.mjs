// A minimal HTTP/2 client for load generation (cleartext, prior knowledge):
// one TCP connection, pre-encoded frames, no per-call objects beyond a slot in
// typed arrays. It sends one kind of request, a gRPC unary call whose HEADERS
// block and DATA payload are encoded once, and sees only each stream's end.
// node:http2 costs ~30 µs of client CPU and ~2 KB of garbage per call; this
// costs a few µs and no garbage, so the generator's own GC pauses stay out of
// the latencies it measures.
//
// HTTP/2 (RFC 9113) as far as needed:
//   - preface, SETTINGS (push off; receive windows as configured: Envoy's
//     default is 256 MiB), connection WINDOW_UPDATE to match, SETTINGS ACK,
//     PING ACK, GOAWAY/RST_STREAM handling;
//   - the server's receive window is honoured: DATA waits, in call order,
//     until the connection window has room (split across frames like any
//     client), so a small server window shows up as waiting here, as it would
//     in Envoy;
//   - SETTINGS_MAX_CONCURRENT_STREAMS is honoured: calls beyond it wait;
//   - HPACK: requests use only literals "without indexing" (the same bytes
//     every time); responses are not decoded. A call succeeded when its stream
//     carried a gRPC message (DATA) and ended with HEADERS (trailers): a gRPC
//     error is a trailers-only response without DATA. The bench checks the
//     real grpc-status and CheckResponse once per server before loading it.

import net from "node:net";

const TYPE = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8 };
const FLAG = { END_STREAM: 1, ACK: 1, END_HEADERS: 4, PADDED: 8 };
const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

function frameHeader(buf, at, length, type, flags, stream) {
  buf.writeUIntBE(length, at, 3);
  buf[at + 3] = type;
  buf[at + 4] = flags;
  buf.writeUInt32BE(stream & 0x7fffffff, at + 5);
}

function frame(type, flags, stream, payload = Buffer.alloc(0)) {
  const b = Buffer.allocUnsafe(9 + payload.length);
  frameHeader(b, 0, payload.length, type, flags, stream);
  payload.copy(b, 9);
  return b;
}

/** HPACK literal header field without indexing (RFC 7541 §6.2.2), no Huffman. */
function literal(nameIndexOrString, value) {
  const parts = [];
  const str = (s) => {
    const b = Buffer.from(s, "latin1");
    if (b.length >= 127) throw new Error("header too long for this encoder");
    parts.push(Buffer.from([b.length]), b);
  };
  if (typeof nameIndexOrString === "number") {
    if (nameIndexOrString >= 15) parts.push(Buffer.from([0x0f, nameIndexOrString - 15]));
    else parts.push(Buffer.from([nameIndexOrString]));
  } else {
    parts.push(Buffer.from([0x00]));
    str(nameIndexOrString);
  }
  str(value);
  return Buffer.concat(parts);
}

/** The HPACK block of a gRPC unary call (static-table names, literal values). */
function grpcHeaderBlock(authority, path) {
  return Buffer.concat([
    Buffer.from([0x83]), // :method: POST (static 3)
    Buffer.from([0x86]), // :scheme: http (static 6)
    literal(4, path), // :path
    literal(1, authority), // :authority
    literal(31, "application/grpc"), // content-type
    literal("te", "trailers"),
  ]);
}

export class H2Client {
  /**
   * @param {object} o
   * @param {string} o.host
   * @param {number} o.port
   * @param {string} o.path       request path
   * @param {Buffer} o.body       the gRPC frame sent as DATA
   * @param {number} [o.window]   our receive window (stream and connection), default 256 MiB
   * @param {number} [o.slots]    ring size for per-stream state (power of 2, > max in flight)
   * @param {(start: number, ok: boolean) => void} o.onDone  called per finished call with its start time
   */
  constructor(o) {
    this.o = o;
    this.window = o.window ?? 256 * 1024 * 1024;
    this.slots = o.slots ?? 1 << 16;
    this.mask = this.slots - 1;
    this.start = new Float64Array(this.slots);
    this.gotData = new Uint8Array(this.slots);
    this.nextId = 1;
    this.inFlight = 0; // streams opened and not finished
    this.waiting = []; // start times of calls beyond max concurrent streams (FIFO)
    this.waitingHead = 0;
    this.dataQueue = []; // [streamId, offset] of DATA blocked by the server's window (FIFO)
    this.dataHead = 0;
    this.sendWindow = 65535; // connection send window (the server's receive window)
    this.streamWindowInit = 65535;
    this.maxStreams = 100; // until the server's SETTINGS arrive
    this.recvConsumed = 0;
    this.out = [];
    this.inbuf = null;
    this.block = grpcHeaderBlock(`${o.host}:${o.port}`, o.path);
    // one call = HEADERS + DATA(END_STREAM); a template whose stream ids are patched per call
    const b = o.body;
    this.template = Buffer.alloc(9 + this.block.length + 9 + b.length);
    frameHeader(this.template, 0, this.block.length, TYPE.HEADERS, FLAG.END_HEADERS, 1);
    this.block.copy(this.template, 9);
    this.dataAt = 9 + this.block.length;
    frameHeader(this.template, this.dataAt, b.length, TYPE.DATA, FLAG.END_STREAM, 1);
    b.copy(this.template, this.dataAt + 9);
    this.stats = { dataWaits: 0, streamWaits: 0, maxWaitingData: 0 };
  }

  connect() {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: this.o.host, port: this.o.port, noDelay: true });
      this.socket = s;
      s.setNoDelay(true);
      let ready = false;
      this.onSettings = () => {
        if (!ready) {
          ready = true;
          resolve();
        }
      };
      s.once("error", (e) => (ready ? this.fatal(`socket error: ${e.message}`) : reject(e)));
      s.on("close", () => this.closed || this.fatal("server closed the connection"));
      s.on("data", (chunk) => this.onData(chunk));
      s.once("connect", () => {
        const settings = Buffer.alloc(12);
        settings.writeUInt16BE(0x2, 0); // ENABLE_PUSH
        settings.writeUInt32BE(0, 2);
        settings.writeUInt16BE(0x4, 6); // INITIAL_WINDOW_SIZE
        settings.writeUInt32BE(Math.min(this.window, 2 ** 31 - 1), 8);
        const wu = Buffer.alloc(4);
        wu.writeUInt32BE(Math.max(0, Math.min(this.window, 2 ** 31 - 1) - 65535), 0);
        s.write(Buffer.concat([PREFACE, frame(TYPE.SETTINGS, 0, 0, settings), ...(this.window > 65535 ? [frame(TYPE.WINDOW_UPDATE, 0, 0, wu)] : [])]));
      });
    });
  }

  fatal(msg) {
    this.closed = true;
    this.socket?.destroy();
    (this.o.onFatal ?? ((m) => { throw new Error(m); }))(msg);
  }

  close() {
    this.closed = true;
    this.socket.end(frame(TYPE.GOAWAY, 0, 0, Buffer.alloc(8)));
  }

  /** Start one call whose latency is measured from `start` (ms, performance.now()). Call flush() after a batch. */
  call(start) {
    if (this.inFlight >= this.maxStreams) {
      this.waiting.push(start);
      this.stats.streamWaits++;
      return;
    }
    this.open(start);
  }

  open(start) {
    const id = this.nextId;
    this.nextId += 2;
    this.inFlight++;
    const slot = (id >>> 1) & this.mask;
    this.start[slot] = start;
    this.gotData[slot] = 0;
    const len = this.o.body.length;
    if (this.dataHead === this.dataQueue.length && this.sendWindow >= len && this.streamWindowInit >= len) {
      const b = Buffer.allocUnsafe(this.template.length);
      this.template.copy(b);
      b.writeUInt32BE(id, 5);
      b.writeUInt32BE(id, this.dataAt + 5);
      this.sendWindow -= len;
      this.out.push(b);
    } else {
      // HEADERS now (not flow-controlled), DATA when the window allows
      const b = Buffer.allocUnsafe(this.dataAt);
      this.template.copy(b, 0, 0, this.dataAt);
      b.writeUInt32BE(id, 5);
      this.out.push(b);
      this.dataQueue.push([id, 0]);
      this.stats.dataWaits++;
      const w = this.dataQueue.length - this.dataHead;
      if (w > this.stats.maxWaitingData) this.stats.maxWaitingData = w;
      this.pumpData();
    }
  }

  /** Send queued DATA, in order, as far as the connection window allows. */
  pumpData() {
    const body = this.o.body;
    while (this.dataHead < this.dataQueue.length && this.sendWindow > 0) {
      const q = this.dataQueue[this.dataHead];
      const n = Math.min(this.sendWindow, body.length - q[1], 16384);
      const last = q[1] + n === body.length;
      const f = Buffer.allocUnsafe(9 + n);
      frameHeader(f, 0, n, TYPE.DATA, last ? FLAG.END_STREAM : 0, q[0]);
      body.copy(f, 9, q[1], q[1] + n);
      this.out.push(f);
      this.sendWindow -= n;
      q[1] += n;
      if (last) this.dataHead++;
    }
    if (this.dataHead > 4096 && this.dataHead * 2 > this.dataQueue.length) {
      this.dataQueue = this.dataQueue.slice(this.dataHead);
      this.dataHead = 0;
    }
  }

  flush() {
    if (this.out.length === 0) return;
    this.socket.write(this.out.length === 1 ? this.out[0] : Buffer.concat(this.out));
    this.out.length = 0;
  }

  finish(id, ok) {
    const slot = (id >>> 1) & this.mask;
    const start = this.start[slot];
    if (Number.isNaN(start)) return; // already finished
    this.start[slot] = NaN;
    this.inFlight--;
    this.o.onDone(start, ok && this.gotData[slot] === 1);
    if (this.waitingHead < this.waiting.length && this.inFlight < this.maxStreams) {
      this.open(this.waiting[this.waitingHead++]);
      if (this.waitingHead > 4096 && this.waitingHead * 2 > this.waiting.length) {
        this.waiting = this.waiting.slice(this.waitingHead);
        this.waitingHead = 0;
      }
    }
  }

  onData(chunk) {
    let buf = this.inbuf ? Buffer.concat([this.inbuf, chunk]) : chunk;
    let at = 0;
    while (buf.length - at >= 9) {
      const len = buf.readUIntBE(at, 3);
      if (buf.length - at < 9 + len) break;
      const type = buf[at + 3];
      const flags = buf[at + 4];
      const id = buf.readUInt32BE(at + 5) & 0x7fffffff;
      const p = at + 9;
      switch (type) {
        case TYPE.DATA:
          if (len >= 5) this.gotData[(id >>> 1) & this.mask] = 1;
          this.recvConsumed += len;
          if (flags & FLAG.END_STREAM) this.finish(id, false); // a gRPC response ends with trailers, not DATA
          break;
        case TYPE.HEADERS:
          if (flags & FLAG.END_STREAM) this.finish(id, true);
          break;
        case TYPE.RST_STREAM:
          this.finish(id, false);
          break;
        case TYPE.SETTINGS:
          if (!(flags & FLAG.ACK)) {
            for (let i = p; i + 6 <= p + len; i += 6) {
              const k = buf.readUInt16BE(i);
              const v = buf.readUInt32BE(i + 2);
              if (k === 0x3) this.maxStreams = v;
              if (k === 0x4) this.streamWindowInit = v;
            }
            this.out.push(frame(TYPE.SETTINGS, FLAG.ACK, 0));
            this.onSettings?.();
          }
          break;
        case TYPE.PING:
          if (!(flags & FLAG.ACK)) this.out.push(frame(TYPE.PING, FLAG.ACK, 0, buf.subarray(p, p + 8)));
          break;
        case TYPE.WINDOW_UPDATE:
          if (id === 0) this.sendWindow += buf.readUInt32BE(p) & 0x7fffffff;
          break;
        case TYPE.GOAWAY:
          this.fatal(`server sent GOAWAY, error code ${buf.readUInt32BE(p + 4)}${len > 8 ? `: ${buf.toString("latin1", p + 8, p + len)}` : ""}`);
          return;
        default:
          break; // PRIORITY, PUSH_PROMISE (disabled), CONTINUATION (END_STREAM is on HEADERS)
      }
      at += 9 + len;
    }
    this.inbuf = at < buf.length ? Buffer.from(buf.subarray(at)) : null;
    if (this.recvConsumed > this.window / 2) {
      const wu = Buffer.alloc(4);
      wu.writeUInt32BE(this.recvConsumed, 0);
      this.out.push(frame(TYPE.WINDOW_UPDATE, 0, 0, wu));
      this.recvConsumed = 0;
    }
    this.pumpData();
    this.flush();
  }
}
