-- GRID bench: every request is the same POST, set up by bench/load.py through the environment.
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/json"
local key = os.getenv("BENCH_KEY")
if key ~= nil and key ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. key
end
-- Extra headers, one "Name: value" per line (Portkey's provider and upstream host, for bench-peers).
local extra = os.getenv("BENCH_HEADERS")
if extra ~= nil then
  for name, value in extra:gmatch("([^:\n]+):%s*([^\n]*)\n") do
    wrk.headers[name] = value
  end
end
