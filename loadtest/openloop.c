// openloop — the open-loop load generator of `npm run bench:authz` (built by
// the bench with the system C compiler; loadtest/loadgen.mjs is the fallback).
//
// Why C: loadtest/loadgen.mjs keeps its schedule by spinning on setImmediate,
// which takes a whole core of a 2-core machine for the whole run (niced, it is
// then descheduled for milliseconds whenever the server's helper threads run,
// and those stalls land in the measured latencies). This program sleeps until
// each call is due (clock_nanosleep, absolute CLOCK_MONOTONIC deadlines, no
// drift) and uses a few µs of CPU per call, so the server has the machine and
// the schedule stays punctual.
//
//   openloop <127.0.0.1:port> <request-frame-file> <rate/s> <warmup-ms> <duration-ms> <server-pid>
//
// One TCP connection, HTTP/2 with prior knowledge, one gRPC unary call per
// scheduled time on its own stream: the request's HEADERS and DATA frames go
// out in one write, as Envoy's codec sends a small request. The schedule is
// fixed (call k due at t0 + k/rate): a call is sent when due whether or not
// earlier calls have answered, and its latency is measured from its due time,
// not from when it was sent, so a late generator or a stalled server shows up
// in the latency (no coordinated omission). The send lag (sent − due) is
// reported too.
//
// HTTP/2 (RFC 9113) as far as needed, as loadtest/h2client.mjs does:
//   - preface, SETTINGS (push off, 2^31-1 stream window), connection
//     WINDOW_UPDATE to match; SETTINGS ACK, PING ACK; GOAWAY is fatal;
//   - the server's connection window and MAX_CONCURRENT_STREAMS are honoured:
//     a due call waits while either is exhausted (the wait counts as send lag);
//   - HPACK: requests use literals without indexing (the same bytes every
//     time); responses are not decoded. A call succeeded when its stream
//     carried DATA and ended with HEADERS (trailers): a gRPC error is a
//     trailers-only response without DATA. The bench checks each server's
//     real grpc-status and CheckResponse once before loading it.
//
// Server CPU (utime+stime of all threads, and of the main thread) is read from
// /proc at the edges of the measured window. Prints one JSON line (latencies
// in µs), the same fields as loadtest/loadgen.mjs. Only 127.0.0.1 is accepted.

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { T_DATA = 0, T_HEADERS = 1, T_RST = 3, T_SETTINGS = 4, T_PING = 6, T_GOAWAY = 7, T_WINDOW = 8, T_CONT = 9 };
enum { F_END_STREAM = 1, F_ACK = 1, F_END_HEADERS = 4, F_PADDED = 8, F_PRIORITY = 0x20 };
#define PATH "/envoy.service.auth.v3.Authorization/Check"
#define MAX_WINDOW 2147483647L

static int fd = -1;
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;

// Per call k (stream id 2k+1): due time, and state written by the reader.
static int64_t *due_ns;   // call k's scheduled time
static int64_t *done_ns;  // 0 until the stream ended
static uint8_t *status;   // 0 pending, 1 saw DATA, 2 ok, 3 failed
static long n_calls;

static atomic_long conn_window = 65535;   // the server's connection receive window left for us
static atomic_long stream_window = 65535; // the server's SETTINGS_INITIAL_WINDOW_SIZE (per stream)
static atomic_long max_streams = 1L << 30; // the server's SETTINGS_MAX_CONCURRENT_STREAMS
static atomic_long completed = 0;          // streams ended (ok or not)
static atomic_int got_settings = 0;        // the server's first SETTINGS frame has been read
static atomic_int stopping = 0;            // the main thread is done: the reader's end is no error
static atomic_int fatal = 0;
static pthread_mutex_t fatal_lock = PTHREAD_MUTEX_INITIALIZER;
static char fatal_msg[256];

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_until(int64_t t) {
  struct timespec ts = {.tv_sec = t / 1000000000LL, .tv_nsec = t % 1000000000LL};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
  }
}

static void die(const char *msg) {
  printf("{\"error\":\"%s\"}\n", msg);
  fflush(stdout);
  exit(1);
}

// the first fatal error wins; the message is written before the flag is published
static void set_fatal(const char *msg) {
  pthread_mutex_lock(&fatal_lock);
  if (!atomic_load(&fatal)) {
    snprintf(fatal_msg, sizeof fatal_msg, "%s", msg);
    atomic_store(&fatal, 1);
  }
  pthread_mutex_unlock(&fatal_lock);
}

static void die_fatal(void) {
  pthread_mutex_lock(&fatal_lock);
  char msg[sizeof fatal_msg];
  memcpy(msg, fatal_msg, sizeof msg);
  pthread_mutex_unlock(&fatal_lock);
  die(msg);
}

static void put_frame_header(uint8_t *b, uint32_t len, uint8_t type, uint8_t flags, uint32_t stream) {
  b[0] = (uint8_t)(len >> 16);
  b[1] = (uint8_t)(len >> 8);
  b[2] = (uint8_t)len;
  b[3] = type;
  b[4] = flags;
  b[5] = (uint8_t)((stream >> 24) & 0x7f);
  b[6] = (uint8_t)(stream >> 16);
  b[7] = (uint8_t)(stream >> 8);
  b[8] = (uint8_t)stream;
}

static void write_all(const uint8_t *b, size_t n) {
  pthread_mutex_lock(&write_lock);
  while (n > 0) {
    ssize_t w = write(fd, b, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      pthread_mutex_unlock(&write_lock);
      if (!atomic_load(&stopping)) set_fatal("write to the server failed");
      return;
    }
    b += w;
    n -= (size_t)w;
  }
  pthread_mutex_unlock(&write_lock);
}

// HPACK literal header field without indexing, new name or static-table name index (< 15), no Huffman.
static size_t literal(uint8_t *out, int name_index, const char *name, const char *value) {
  size_t n = 0;
  if (name_index > 0) out[n++] = (uint8_t)name_index;
  else {
    size_t l = strlen(name);
    out[n++] = 0;
    out[n++] = (uint8_t)l;
    memcpy(out + n, name, l);
    n += l;
  }
  size_t l = strlen(value);
  if (l >= 127) die("header value too long for this encoder");
  out[n++] = (uint8_t)l;
  memcpy(out + n, value, l);
  return n + l;
}

static void complete(uint32_t stream, int ok) {
  if ((stream & 1) == 0) return;
  long k = (long)(stream - 1) / 2;
  if (k >= n_calls || done_ns[k] != 0) return;
  status[k] = ok && status[k] == 1 ? 2 : 3;
  done_ns[k] = now_ns();
  atomic_fetch_add(&completed, 1);
}

// credit back what the server sent, so our receive window never runs out
static void credit(uint32_t n) {
  uint8_t wu[13];
  put_frame_header(wu, 4, T_WINDOW, 0, 0);
  wu[9] = (uint8_t)((n >> 24) & 0x7f), wu[10] = (uint8_t)(n >> 16), wu[11] = (uint8_t)(n >> 8), wu[12] = (uint8_t)n;
  write_all(wu, 13);
}

static void *reader(void *arg) {
  (void)arg;
  size_t cap = 1 << 20, len = 0;
  uint8_t *buf = malloc(cap);
  if (!buf) die("out of memory");
  uint64_t unacked = 0;       // DATA bytes received since the last WINDOW_UPDATE we sent
  uint32_t trailers_for = 0;  // a stream whose END_STREAM HEADERS continue in CONTINUATION frames
  for (;;) {
    ssize_t r = read(fd, buf + len, cap - len);
    if (r <= 0) {
      if (r < 0 && errno == EINTR) continue;
      if (!atomic_load(&stopping)) set_fatal("the server closed the connection");
      return NULL;
    }
    len += (size_t)r;
    size_t at = 0;
    while (len - at >= 9) {
      uint8_t *f = buf + at;
      uint32_t flen = ((uint32_t)f[0] << 16) | ((uint32_t)f[1] << 8) | f[2];
      uint8_t type = f[3], flags = f[4];
      uint32_t stream = (((uint32_t)f[5] & 0x7f) << 24) | ((uint32_t)f[6] << 16) | ((uint32_t)f[7] << 8) | f[8];
      if (flen + 9 > cap) {
        set_fatal("frame larger than the read buffer");
        return NULL;
      }
      if (len - at < flen + 9) break;
      uint8_t *p = f + 9;
      switch (type) {
        case T_SETTINGS:
          if (!(flags & F_ACK)) {
            for (uint32_t i = 0; i + 6 <= flen; i += 6) {
              uint16_t id = (uint16_t)((p[i] << 8) | p[i + 1]);
              uint32_t v = ((uint32_t)p[i + 2] << 24) | ((uint32_t)p[i + 3] << 16) | ((uint32_t)p[i + 4] << 8) | p[i + 5];
              if (id == 3) atomic_store(&max_streams, (long)v);
              if (id == 4) atomic_store(&stream_window, (long)v);
            }
            uint8_t ack[9];
            put_frame_header(ack, 0, T_SETTINGS, F_ACK, 0);
            write_all(ack, 9);
            atomic_store(&got_settings, 1);
          }
          break;
        case T_PING:
          if (!(flags & F_ACK) && flen == 8) {
            uint8_t pong[17];
            put_frame_header(pong, 8, T_PING, F_ACK, 0);
            memcpy(pong + 9, p, 8);
            write_all(pong, 17);
          }
          break;
        case T_WINDOW:
          if (stream == 0 && flen == 4) {
            uint32_t inc = (((uint32_t)p[0] & 0x7f) << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
            atomic_fetch_add(&conn_window, (long)inc);
          }
          break;
        case T_DATA:
          unacked += flen;
          if (unacked >= (1u << 30)) {
            credit((uint32_t)unacked);
            unacked = 0;
          }
          if (stream & 1) {
            long k = (long)(stream - 1) / 2;
            if (k < n_calls && flen > 0 && status[k] == 0) status[k] = 1;
          }
          if (flags & F_END_STREAM) complete(stream, 0); // a gRPC response ends with trailers, not DATA
          break;
        case T_HEADERS:
          // the stream ends with its header block: at once, or with the CONTINUATION carrying END_HEADERS
          if (flags & F_END_STREAM) {
            if (flags & F_END_HEADERS) complete(stream, 1);
            else trailers_for = stream;
          }
          break;
        case T_CONT:
          if ((flags & F_END_HEADERS) && trailers_for == stream) {
            complete(stream, 1);
            trailers_for = 0;
          }
          break;
        case T_RST:
          complete(stream, 0);
          break;
        case T_GOAWAY:
          set_fatal("the server sent GOAWAY");
          return NULL;
        default:
          break;
      }
      at += 9 + flen;
    }
    memmove(buf, buf + at, len - at);
    len -= at;
  }
}

static int read_file(const char *path, uint8_t **out, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  size_t cap = 1 << 16;
  *out = malloc(cap);
  *n = 0;
  size_t r;
  while ((r = fread(*out + *n, 1, cap - *n, f)) > 0) {
    *n += r;
    if (*n == cap) *out = realloc(*out, cap *= 2);
  }
  fclose(f);
  return 0;
}

// utime+stime of a process (all threads) or of its main thread, in µs.
static double cpu_us(long pid, int main_thread) {
  char path[64], s[1024];
  if (main_thread) snprintf(path, sizeof path, "/proc/%ld/task/%ld/stat", pid, pid);
  else snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f) return NAN;
  size_t n = fread(s, 1, sizeof s - 1, f);
  fclose(f);
  s[n] = 0;
  char *p = strrchr(s, ')');
  if (!p) return NAN;
  unsigned long ut = 0, st = 0;
  // fields after ")": state(3) ... utime(14) stime(15)
  if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) return NAN;
  return (double)(ut + st) * 1e6 / (double)sysconf(_SC_CLK_TCK);
}

// one `,"key":value` of the JSON line; a value that is not a number (no calls measured, no /proc) is null
static void field(const char *key, double v) {
  if (isfinite(v)) printf(",\"%s\":%.2f", key, v);
  else printf(",\"%s\":null", key);
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

static double pct(const int64_t *xs, long n, double p) {
  if (n == 0) return NAN;
  long i = (long)((p / 100.0) * (double)n + 0.999999999) - 1;
  if (i < 0) i = 0;
  if (i >= n) i = n - 1;
  return (double)xs[i] / 1000.0;
}

int main(int argc, char **argv) {
  if (argc != 7) die("usage: openloop <127.0.0.1:port> <frame-file> <rate> <warmup-ms> <duration-ms> <server-pid>");
  char host[64];
  const char *colon = strrchr(argv[1], ':');
  if (!colon || (size_t)(colon - argv[1]) >= sizeof host) die("target must be 127.0.0.1:<port>");
  memcpy(host, argv[1], (size_t)(colon - argv[1]));
  host[colon - argv[1]] = 0;
  if (strcmp(host, "127.0.0.1") != 0) die("target must be 127.0.0.1");
  char *end;
  long port = strtol(colon + 1, &end, 10);
  if (*end != 0 || colon[1] == 0) die("bad arguments: the port is not a number");
  double rate = strtod(argv[3], &end);
  if (*end != 0) die("bad arguments: the rate is not a number");
  long warmup_ms = strtol(argv[4], &end, 10);
  if (*end != 0) die("bad arguments: warmup-ms is not a number");
  long duration_ms = strtol(argv[5], &end, 10);
  if (*end != 0) die("bad arguments: duration-ms is not a number");
  long server_pid = strtol(argv[6], &end, 10);
  if (*end != 0) die("bad arguments: server-pid is not a number");
  if (port <= 0 || port > 65535 || !(rate > 0 && rate <= 1e6) || warmup_ms < 0 || warmup_ms > 600000 || duration_ms <= 0 || duration_ms > 600000) die("bad arguments");
  if ((double)duration_ms * rate < 1000.0) die("bad arguments: the measured window holds no call (duration-ms x rate < 1000)");
  signal(SIGPIPE, SIG_IGN); // a closed connection is a write error we report, not a silent death

  uint8_t *body;
  size_t body_len;
  if (read_file(argv[2], &body, &body_len) != 0 || body_len == 0) die("cannot read the request frame file");
  if (body_len > 16384) die("request frame larger than the default 16 KiB frame size");

  // the request: HEADERS (END_HEADERS) + DATA (END_STREAM), stream id patched per call
  uint8_t block[512];
  size_t bl = 0;
  block[bl++] = 0x83; // :method POST
  block[bl++] = 0x86; // :scheme http
  bl += literal(block + bl, 4, NULL, PATH);
  bl += literal(block + bl, 1, NULL, argv[1]);
  bl += literal(block + bl, 0, "content-type", "application/grpc");
  bl += literal(block + bl, 0, "te", "trailers");
  size_t req_len = 9 + bl + 9 + body_len;
  uint8_t *req = malloc(req_len);
  put_frame_header(req, (uint32_t)bl, T_HEADERS, F_END_HEADERS, 1);
  memcpy(req + 9, block, bl);
  put_frame_header(req + 9 + bl, (uint32_t)body_len, T_DATA, F_END_STREAM, 1);
  memcpy(req + 18 + bl, body, body_len);

  int64_t interval = (int64_t)(1e9 / rate);
  long n_warm = (long)((double)warmup_ms * rate / 1000.0);
  long n_meas = (long)((double)duration_ms * rate / 1000.0);
  n_calls = n_warm + n_meas;
  if (n_calls >= (1L << 30)) die("too many calls for one connection");
  due_ns = calloc((size_t)n_calls, sizeof *due_ns);
  done_ns = calloc((size_t)n_calls, sizeof *done_ns);
  status = calloc((size_t)n_calls, 1);
  int64_t *lag = calloc((size_t)n_calls, sizeof *lag);
  if (!due_ns || !done_ns || !status || !lag) die("out of memory");

  fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) die("cannot connect");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

  uint8_t hello[24 + 9 + 12 + 9 + 4];
  memcpy(hello, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24);
  put_frame_header(hello + 24, 12, T_SETTINGS, 0, 0);
  uint8_t *s = hello + 33;
  s[0] = 0, s[1] = 2, s[2] = s[3] = s[4] = s[5] = 0;                          // ENABLE_PUSH 0
  s[6] = 0, s[7] = 4, s[8] = 0x7f, s[9] = 0xff, s[10] = 0xff, s[11] = 0xff;    // INITIAL_WINDOW_SIZE 2^31-1
  put_frame_header(hello + 45, 4, T_WINDOW, 0, 0);
  uint32_t inc = (uint32_t)(MAX_WINDOW - 65535);
  hello[54] = (uint8_t)(inc >> 24), hello[55] = (uint8_t)(inc >> 16), hello[56] = (uint8_t)(inc >> 8), hello[57] = (uint8_t)inc;
  write_all(hello, sizeof hello);

  pthread_t rt;
  if (pthread_create(&rt, NULL, reader, NULL) != 0) die("cannot start the reader thread");
  // the server's SETTINGS (stream limit, windows) before the first call
  for (int i = 0; i < 2000 && !atomic_load(&got_settings) && !atomic_load(&fatal); i++) usleep(1000);
  if (!atomic_load(&got_settings) && !atomic_load(&fatal)) set_fatal("no SETTINGS from the server within 2 s");
  if (!atomic_load(&fatal) && atomic_load(&stream_window) < (long)body_len) set_fatal("the server's initial stream window is smaller than the request");

  struct rusage ru0, ru1;
  getrusage(RUSAGE_SELF, &ru0);
  int64_t t_start = now_ns() + 1000000;
  int64_t win_start = t_start + n_warm * interval;
  int64_t win_end = win_start + n_meas * interval;
  double cpu0 = 0, main0 = 0, cpu1 = 0, main1 = 0;
  long waited_window = 0, waited_streams = 0;
  for (long k = 0; k < n_calls && !atomic_load(&fatal); k++) {
    int64_t due = t_start + k * interval;
    if (k == n_warm) {
      cpu0 = cpu_us(server_pid, 0);
      main0 = cpu_us(server_pid, 1);
    }
    if (now_ns() < due) sleep_until(due);
    int waited = 0;
    int64_t wait_limit = 0;
    while ((atomic_load(&conn_window) < (long)body_len || k - atomic_load(&completed) >= atomic_load(&max_streams)) && !atomic_load(&fatal)) {
      if (!waited) {
        if (atomic_load(&conn_window) < (long)body_len) waited_window++;
        else waited_streams++;
        wait_limit = now_ns() + 10000000000LL;
      } else if (now_ns() > wait_limit) {
        set_fatal("the server's window or stream limit stayed exhausted for 10 s");
        break;
      }
      waited = 1;
      usleep(50);
    }
    due_ns[k] = due;
    uint32_t sid = (uint32_t)(2 * k + 1);
    req[5] = (uint8_t)((sid >> 24) & 0x7f), req[6] = (uint8_t)(sid >> 16), req[7] = (uint8_t)(sid >> 8), req[8] = (uint8_t)sid;
    uint8_t *d = req + 9 + bl;
    d[5] = req[5], d[6] = req[6], d[7] = req[7], d[8] = req[8];
    atomic_fetch_sub(&conn_window, (long)body_len);
    int64_t sent = now_ns();
    lag[k] = sent - due;
    write_all(req, req_len);
  }
  // the window's end: the first moment past the last measured due time
  if (!atomic_load(&fatal) && now_ns() < win_end) sleep_until(win_end);
  cpu1 = cpu_us(server_pid, 0);
  main1 = cpu_us(server_pid, 1);
  int64_t drain_limit = now_ns() + 10000000000LL;
  while (atomic_load(&completed) < n_calls && now_ns() < drain_limit && !atomic_load(&fatal)) usleep(1000);
  getrusage(RUSAGE_SELF, &ru1);
  // stop the reader before reading what it wrote (a drain that timed out may still be receiving)
  atomic_store(&stopping, 1);
  shutdown(fd, SHUT_RDWR);
  pthread_join(rt, NULL);
  if (atomic_load(&fatal)) die_fatal();

  // measured calls: due in [win_start, win_end)
  int64_t *lat = malloc(sizeof *lat * (size_t)(n_meas + 1));
  int64_t *lags = malloc(sizeof *lags * (size_t)(n_meas + 1));
  long ok = 0, failed = 0, unfinished = 0, completed_in_window = 0, nl = 0;
  double sum = 0;
  for (long k = 0; k < n_calls; k++) {
    if (done_ns[k] >= win_start && done_ns[k] < win_end) completed_in_window++;
    if (k < n_warm) continue;
    lags[nl++] = lag[k];
    if (done_ns[k] == 0) unfinished++;
    else if (status[k] != 2) failed++;
    else {
      lat[ok] = done_ns[k] - due_ns[k];
      sum += (double)lat[ok];
      ok++;
    }
  }
  qsort(lat, (size_t)ok, sizeof *lat, cmp_i64);
  qsort(lags, (size_t)nl, sizeof *lags, cmp_i64);
  double window_s = (double)(win_end - win_start) / 1e9;
  double client_cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec + ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
                      (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec + ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
  double elapsed_s = (double)(now_ns() - t_start) / 1e9;
  printf("{\"mode\":\"open\",\"generator\":\"openloop.c\"");
  field("ok", (double)ok);
  field("failed", (double)failed);
  field("unfinished", (double)unfinished);
  field("completedInWindow", (double)completed_in_window);
  field("rps", (double)completed_in_window / window_s);
  field("p50", pct(lat, ok, 50));
  field("p99", pct(lat, ok, 99));
  field("p999", pct(lat, ok, 99.9));
  field("max", ok ? (double)lat[ok - 1] / 1000.0 : NAN);
  field("mean", ok ? sum / (double)ok / 1000.0 : NAN);
  field("serverCpuMicros", cpu1 - cpu0);
  field("serverCpuPerCall", (cpu1 - cpu0) / (double)completed_in_window);
  field("serverMainCpuPerCall", (main1 - main0) / (double)completed_in_window);
  field("serverMainBusy", (main1 - main0) / 1e6 / window_s);
  field("clientCpuShare", client_cpu / elapsed_s);
  field("clientCpuPerCall", client_cpu * 1e6 / (double)n_calls);
  field("sendLagP50", pct(lags, nl, 50));
  field("sendLagP99", pct(lags, nl, 99));
  field("sendLagMax", nl ? (double)lags[nl - 1] / 1000.0 : NAN);
  field("waitedForWindow", (double)waited_window);
  field("waitedForStreams", (double)waited_streams);
  printf("}\n");
  fflush(stdout);
  return 0;
}
