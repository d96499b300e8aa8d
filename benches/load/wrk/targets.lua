-- wrk script of the load suite (benches/load/run): cycles through the requests listed in the
-- file named by $WRK_TARGETS, one per line as METHOD<TAB>PATH[<TAB>BODY], each thread starting
-- at its own place. Headers (X-API-Key, Content-Type) come from wrk's -H options.
local next_thread = 0
local requests = {}
local position = 0

function setup(thread)
  next_thread = next_thread + 1
  thread:set("id", next_thread)
end

function init(args)
  local file = os.getenv("WRK_TARGETS")
  for line in io.lines(file) do
    local method, path, body = line:match("^(%u+)\t([^\t]+)\t?(.*)$")
    if method then
      if body == "" then body = nil end
      requests[#requests + 1] = wrk.format(method, path, nil, body)
    end
  end
  if #requests == 0 then
    error("no requests in " .. tostring(file))
  end
  position = ((wrk.thread:get("id") or 1) * 7919) % #requests
end

function request()
  position = position % #requests + 1
  return requests[position]
end
