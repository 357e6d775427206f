-- GRID bench: every request is the same POST but for a running number, set up by bench/load.py
-- through the environment. The body's "@N@" becomes the number (bench/payloads.py: VARY_MARK).
wrk.method = "POST"
local template = os.getenv("BENCH_BODY")
wrk.body = template
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

-- Unique across wrk's threads (each has its own Lua state and counter) and across runs (the warm-up
-- is another wrk): "run.thread.n", so a response cache never answers a body it has seen.
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

local counter = 0
if template ~= nil and template:find("@N@", 1, true) then
  request = function()
    counter = counter + 1
    local mark = tostring(os.time()) .. "." .. tostring(tid) .. "." .. tostring(counter)
    return wrk.format(nil, nil, nil, (template:gsub("@N@", mark)))
  end
end
