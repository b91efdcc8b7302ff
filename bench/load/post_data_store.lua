-- wrk: POST /v1/data-stores, each request a store of a name no other request uses.
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function init(args)
  counter = 0
  run = args[1] or "load"
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"name":"%s-%d-%d","type":"file","connection":{"path":"load/%d-%d.csv","format":"csv"}}',
    run, tid, counter, tid, counter)
  return wrk.format("POST", "/v1/data-stores", {["Content-Type"] = "application/json"}, body)
end

done = dofile(os.getenv("SLUICE_BENCH_LOAD_DIR") .. "/report.lua")
