-- Shared by the wrk scripts: done() prints the one WRK_RESULT line that run.sh parses.
function done(summary, latency, requests)
  local e = summary.errors
  local n = summary.requests
  io.write(string.format(
    "WRK_RESULT requests=%d duration_us=%d rps=%.2f p50_us=%d p99_us=%d mean_us=%.1f max_us=%d non2xx=%d err_connect=%d err_read=%d err_write=%d err_timeout=%d bytes=%d bytes_per_resp=%.1f\n",
    n, summary.duration, n / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), latency.mean, latency.max,
    e.status, e.connect, e.read, e.write, e.timeout,
    summary.bytes, n > 0 and summary.bytes / n or 0))
end
