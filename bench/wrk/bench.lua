-- The one wrk script of bench/run.sh. Every workload is a POST whose
-- variable part comes from a file, one line per request:
--
--   wrk -t T -c C -d D -s bench.lua URL -- key=value ...
--
--   threads=T        the -t given to wrk (thread k uses lines k, k+T, ...)
--   path=/users/x    the request path
--   method=GET       the request method of mode=auth (POST by default)
--   body=TEXT        mode=auth: the request body (JSON, sent with
--                    Content-Type: application/json); none by default
--   file=PATH        one token (mode=auth) or e-mail (mode=login) a line
--   mode=auth        the line is the raw `Authorization` header value
--   mode=login       the line is an e-mail; body {"email": .., "password": ..}
--   password=P       the password of mode=login
--   cycle=1          reuse the lines round and round (read-only workloads);
--   cycle=0          use each line once (logout: one session a request); when
--                    a thread runs out it resends its last line, whose answer
--                    is then wrong, so the run fails instead of measuring
--                    something else ("exhausted" in the result)
--   burst=1          with cycle=0: after its lines a thread sends `filler`
--                    requests (a token with a bad signature: no database
--                    work), and stops at its last expected answer; the
--                    result has the wall time from the first request to
--                    that answer (wrk itself always runs for -d)
--   filler=TOKEN     the filler's Authorization value
--   expect_status=N  the expected status of every answer
--   expect=TEXT      text every expected answer's body contains
--   delay_ms=N       wait N ms before each request on a connection (a paced
--                    load: at most connections × 1000/N requests a second)
--
-- Every answer is checked (response()): the result counts expected answers
-- (ok), fillers, and anything else (bad, with the first one as a sample).
-- done() prints one line "BENCHJSON {...}" for bench/bench.py.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC: the same clock in every thread
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

local function parse_args(args)
  local opts = {}
  for _, a in ipairs(args) do
    local k, v = a:match("^([%w_]+)=(.*)$")
    if not k then error("bench.lua: bad argument " .. a) end
    opts[k] = v
  end
  return opts
end

-- setup/done environment ---------------------------------------------------

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local function json_string(s)
  s = tostring(s)
  s = s:gsub('[%c"\\]', function(c)
    if c == '"' then return '\\"' end
    if c == "\\" then return "\\\\" end
    return string.format("\\u%04x", c:byte())
  end)
  return '"' .. s .. '"'
end

local function num(v)
  if v == nil then return "null" end
  return string.format("%.6f", v)
end

function done(summary, latency, requests)
  local ok, bad, fillers, sent, exhausted = 0, 0, 0, 0, 0
  local first, last, sample = nil, nil, nil
  local per_thread = {}
  for _, t in ipairs(threads) do
    local t_ok, t_bad = t:get("ok") or 0, t:get("bad") or 0
    ok = ok + t_ok
    bad = bad + t_bad
    fillers = fillers + (t:get("fillers") or 0)
    sent = sent + (t:get("sent") or 0)
    exhausted = exhausted + (t:get("exhausted") or 0)
    local f, l = t:get("t_first"), t:get("t_last")
    if f and (first == nil or f < first) then first = f end
    if l and (last == nil or l > last) then last = l end
    if sample == nil then sample = t:get("bad_sample") end
    table.insert(per_thread, string.format('{"ok": %d, "bad": %d, "sent": %d, "done": %s}',
      t_ok, t_bad, t:get("sent") or 0, (t:get("t_last") and "true" or "false")))
  end
  local e = summary.errors
  local out = {
    string.format('"duration_s": %.6f', summary.duration / 1e6),
    string.format('"requests": %d', summary.requests),
    string.format('"ok": %d', ok),
    string.format('"bad": %d', bad),
    string.format('"fillers": %d', fillers),
    string.format('"sent": %d', sent),
    string.format('"exhausted": %d', exhausted),
    string.format('"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}',
      e.connect, e.read, e.write, e.status, e.timeout),
    string.format('"latency_us": {"mean": %.1f, "p50": %d, "p90": %d, "p99": %d, "p999": %d, "max": %d}',
      latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency:percentile(99.9), latency.max),
    '"burst_first": ' .. num(first),
    '"burst_last": ' .. num(last),
    '"bad_sample": ' .. (sample and json_string(sample) or "null"),
    '"threads": [' .. table.concat(per_thread, ", ") .. "]",
  }
  io.write("BENCHJSON {" .. table.concat(out, ", ") .. "}\n")
end

-- thread environment ---------------------------------------------------------

function init(args)
  local o = parse_args(args)
  local nthreads = tonumber(o.threads) or error("bench.lua: threads= is required")
  cycle = o.cycle == "1"
  burst = o.burst == "1"
  expect_status = tonumber(o.expect_status) or error("bench.lua: expect_status= is required")
  expect = o.expect or error("bench.lua: expect= is required")
  ok, bad, fillers, sent, exhausted = 0, 0, 0, 0, 0
  reqs = {}
  local path = o.path or error("bench.lua: path= is required")
  local method = o.method or "POST"
  local i = 0
  for line in io.lines(o.file) do
    if i % nthreads == tid and line ~= "" then
      if o.mode == "login" then
        local body = string.format('{"email": "%s", "password": "%s"}', line, o.password)
        reqs[#reqs + 1] = wrk.format("POST", path, { ["Content-Type"] = "application/json" }, body)
      else
        local headers = { ["Authorization"] = line }
        if o.body then headers["Content-Type"] = "application/json" end
        reqs[#reqs + 1] = wrk.format(method, path, headers, o.body)
      end
    end
    i = i + 1
  end
  n = #reqs
  if n == 0 then error("bench.lua: no lines for thread " .. tid .. " in " .. o.file) end
  if o.delay_ms then
    local d = tonumber(o.delay_ms)
    delay = function() return d end
  end
  if o.filler then filler_req = wrk.format("POST", path, { ["Authorization"] = o.filler }, nil) end
  idx = 0
  -- wrk calls request() once on thread 0 right after init() only to check
  -- the request (script_verify_request); that call must not use a session.
  verify_call = (tid == 0)
end

function request()
  if verify_call then
    verify_call = false
    return reqs[1]
  end
  if t_first == nil then t_first = now() end
  if cycle then
    idx = idx % n + 1
    return reqs[idx]
  end
  if idx < n then
    idx = idx + 1
    sent = idx
    return reqs[idx]
  end
  if burst and filler_req then return filler_req end
  exhausted = 1
  return reqs[n]
end

function response(status, headers, body)
  if status == expect_status and body and body:find(expect, 1, true) then
    ok = ok + 1
    if burst and ok == n then
      t_last = now()
      wrk.thread:stop()
    end
  elseif burst and status == 400 and body and body:find("JWT_SIGNATURE_ERROR", 1, true) then
    fillers = fillers + 1
  else
    bad = bad + 1
    if bad_sample == nil then bad_sample = tostring(status) .. " " .. tostring(body):sub(1, 200) end
  end
end
