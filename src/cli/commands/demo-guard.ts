// Preloaded (`node --import`) into every child of `aecp demo`. The children
// run in their own process group, so a terminal's Ctrl-C reaches only the
// supervisor, which then stops them in order. If the supervisor dies without
// doing so (kill -9, a crash), its IPC channel closes; this turns that into a
// SIGTERM, so the child shuts down cleanly instead of living on as an orphan.

if (process.channel) {
  // INVARIANT: the channel never keeps a child alive by itself.
  process.channel.unref();
  process.once("disconnect", () => process.kill(process.pid, "SIGTERM"));
}

export {};
