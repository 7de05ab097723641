-- wrk script: each thread walks the path list in $WRK_PATHS with a stride of
-- the thread count (2), so no path is requested twice until the list wraps.
-- $WRK_METHOD, $WRK_BODIES (files, ':'-separated, cycled) and $WRK_HEADERS
-- (one per line) shape the requests.
local threads = 0

function setup(thread)
  thread:set("first", threads)
  threads = threads + 1
end

function init(args)
  paths = {}
  for line in io.lines(os.getenv("WRK_PATHS")) do
    paths[#paths + 1] = line
  end
  method = os.getenv("WRK_METHOD") or "GET"
  bodies = {}
  for file in string.gmatch(os.getenv("WRK_BODIES") or "", "[^:]+") do
    local f = assert(io.open(file, "rb"))
    bodies[#bodies + 1] = f:read("*a")
    f:close()
  end
  extra = {}
  for line in string.gmatch(os.getenv("WRK_HEADERS") or "", "[^\n]+") do
    local key, value = line:match("^([^:]+):%s*(.*)$")
    extra[key] = value
  end
  index = first
end

function request()
  local path = paths[(index % #paths) + 1]
  local body = nil
  if #bodies > 0 then
    body = bodies[(index % #bodies) + 1]
  end
  index = index + 2
  local headers = {}
  for key, value in pairs(extra) do
    headers[key] = value
  end
  return wrk.format(method, path, headers, body)
end
