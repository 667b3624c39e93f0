-- wrk script for scripts/bench_check.py: POST varied bodies to /v1/check, or GET /healthz.
-- Environment: BENCH_MODE ("check" or "healthz"), BENCH_BODIES (file, one JSON body per line), BENCH_KEY.
local mode = os.getenv("BENCH_MODE") or "check"
local key = os.getenv("BENCH_KEY") or ""
local bodies = {}
local i = 0

function init(args)
  if mode == "check" then
    for line in io.lines(os.getenv("BENCH_BODIES")) do
      bodies[#bodies + 1] = line
    end
    -- Each thread starts elsewhere in the list, so threads do not send the same body at once.
    math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
    i = math.random(#bodies)
  end
end

function request()
  if mode ~= "check" then
    return wrk.format("GET", "/healthz")
  end
  i = i % #bodies + 1
  return wrk.format("POST", "/v1/check",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key}, bodies[i])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, '
      .. '"status": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
