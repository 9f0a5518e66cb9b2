-- wrk script of bench/run's add row: crm.contact.userfield.add as a form POST with a FIELD_NAME
-- never used before, alternating with the delete of a field this thread added. The deletes keep
-- the portal under Bitrix24's 1016 fields per entity however long the run; the row therefore
-- measures add and delete calls half and half.
-- Arguments (after --): a run id that makes the names unique on this server.

local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

function init(args)
  run = args[1] or "0"
  counter = 0
  added = {}
end

function request()
  local id = table.remove(added)
  if id then
    return wrk.format("GET", wrk.path .. "crm.contact.userfield.delete?id=" .. id)
  end
  counter = counter + 1
  local name = "B" .. run .. "_" .. thread_id .. "_" .. counter
  local body = "fields%5BFIELD_NAME%5D=" .. name .. "&fields%5BUSER_TYPE_ID%5D=string"
  return wrk.format("POST", wrk.path .. "crm.contact.userfield.add",
    { ["Content-Type"] = "application/x-www-form-urlencoded" }, body)
end

function response(status, headers, body)
  local id = body:match('^{"result":(%d+),')
  if id then
    table.insert(added, id)
  end
end
