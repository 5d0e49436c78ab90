-- wrk script for bench/throughput.py: sets method, token and body from BENCH_* variables,
-- rotates GET paths, makes every POST patient unique, and prints per-status counts and latency as JSON.
--
--   BENCH_METHOD     GET or POST
--   BENCH_PATHS      comma-separated paths, used in turn
--   BENCH_TOKEN      bearer token (optional)
--   BENCH_BODY_FILE  JSON body; every __UNIQUE__ in it is replaced by a per-request unique string
--   BENCH_TAG        prefix of the unique string, so warm-up and measured runs never collide
--   BENCH_CLOSE      "1": send Connection: close, so every request is a new connection

local threads = {}

function setup(thread)
   table.insert(threads, thread)
   thread:set("thread_number", #threads)
end

local method, paths, headers, template, tag
local counter = 0
-- Global, so done() can collect it from each thread's Lua state with thread:get.
statuses = {}

local function split(text, separator)
   local parts = {}
   for part in string.gmatch(text, "[^" .. separator .. "]+") do
      table.insert(parts, part)
   end
   return parts
end

function init(args)
   method = os.getenv("BENCH_METHOD") or "GET"
   paths = split(os.getenv("BENCH_PATHS") or "/", ",")
   headers = {}
   local token = os.getenv("BENCH_TOKEN")
   if token and token ~= "" then
      headers["Authorization"] = "Bearer " .. token
   end
   if os.getenv("BENCH_CLOSE") == "1" then
      headers["Connection"] = "close"
   end
   local body_file = os.getenv("BENCH_BODY_FILE")
   if body_file and body_file ~= "" then
      local handle = assert(io.open(body_file, "r"))
      template = handle:read("*a")
      handle:close()
      headers["Content-Type"] = "application/json"
   end
   tag = (os.getenv("BENCH_TAG") or "w") .. "t" .. tostring(thread_number) .. "n"
end

function request()
   counter = counter + 1
   local path = paths[(counter % #paths) + 1]
   local body = nil
   if template then
      -- The product refuses a second open referral for the same patient (409), so each body names a new one.
      body = string.gsub(template, "__UNIQUE__", tag .. tostring(counter))
   end
   return wrk.format(method, path, headers, body)
end

function response(status, response_headers, body)
   local key = tostring(status)
   statuses[key] = (statuses[key] or 0) + 1
end

function done(summary, latency, requests)
   local counts = {}
   for _, thread in ipairs(threads) do
      local thread_statuses = thread:get("statuses") or {}
      for key, value in pairs(thread_statuses) do
         counts[key] = (counts[key] or 0) + value
      end
   end
   local status_parts = {}
   for key, value in pairs(counts) do
      table.insert(status_parts, string.format('"%s": %d', key, value))
   end
   local errors = summary.errors
   io.write(string.format(
      'BENCH_JSON {"duration_us": %d, "requests": %d, "bytes": %d, ' ..
      '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
      '"statuses": {%s}, "latency_us": {"mean": %.1f, "stdev": %.1f, "max": %d, ' ..
      '"p50": %d, "p90": %d, "p95": %d, "p99": %d}}\n',
      summary.duration, summary.requests, summary.bytes,
      errors.connect, errors.read, errors.write, errors.status, errors.timeout,
      table.concat(status_parts, ", "),
      latency.mean, latency.stdev, latency.max,
      latency:percentile(50), latency:percentile(90), latency:percentile(95), latency:percentile(99)))
end
