-- wrk script for bench/fhir.py: bench/wrk_bench.lua with another Content-Type for POST bodies.
--
--   BENCH_BASE_SCRIPT   absolute path of bench/wrk_bench.lua (its BENCH_* variables apply as they are)
--   BENCH_CONTENT_TYPE  Content-Type of the body, e.g. application/fhir+json (default application/json)

dofile(os.getenv("BENCH_BASE_SCRIPT"))

local base_request = request
local content_type = os.getenv("BENCH_CONTENT_TYPE") or "application/json"

function request()
   local text = base_request()
   if content_type == "application/json" then
      return text
   end
   -- wrk_bench.lua names application/json; only the first occurrence (the header, before the body) is replaced.
   return (string.gsub(text, "Content%-Type: application/json\r\n", "Content-Type: " .. content_type .. "\r\n", 1))
end
