-- wrk script for scripts/bench_http_mix.py: POST varied bodies to /v1/check (or GET /healthz) and count
-- the decisions answered. Environment: BENCH_MODE ("check" or "healthz"), BENCH_BODIES (file, one JSON
-- body per line), BENCH_KEY (API key with the check scope).
local mode = os.getenv("BENCH_MODE") or "check"
local key = os.getenv("BENCH_KEY") or ""
local bodies = {}
local i = 0
local threads = {}
-- Per-thread tallies, read by done() through thread:get().
n_allow, n_review, n_deny, n_other = 0, 0, 0, 0

function setup(thread)
  threads[#threads + 1] = thread
end

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

if mode == "check" then
  -- Only defined for checks: wrk skips reading bodies when there is no response() callback.
  function response(status, headers, body)
    if status ~= 200 then
      n_other = n_other + 1
    elseif body:find('"decision": *"allow"') then
      n_allow = n_allow + 1
    elseif body:find('"decision": *"review"') then
      n_review = n_review + 1
    elseif body:find('"decision": *"deny"') then
      n_deny = n_deny + 1
    else
      n_other = n_other + 1
    end
  end
end

function done(summary, latency, requests)
  local a, r, d, o = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    a = a + (t:get("n_allow") or 0)
    r = r + (t:get("n_review") or 0)
    d = d + (t:get("n_deny") or 0)
    o = o + (t:get("n_other") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, '
      .. '"status": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, '
      .. '"allow": %d, "review": %d, "deny": %d, "other": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, a, r, d, o))
end
