-- wrk script for bench/chat.sh: POST /v1/chat as many users, round robin.
-- TOKENS_FILE holds one access token per line. Requests are built once in init() so the load
-- generator spends its (shared) CPU on sending, not on formatting.
local requests = {}
local counter = 0

function init(args)
  local i = 0
  for token in io.lines(os.getenv("TOKENS_FILE")) do
    i = i + 1
    local body = '{"message":"How was your day? Tell me something kind. #' .. i .. '"}'
    requests[i] = wrk.format("POST", "/v1/chat", {
      ["Content-Type"] = "application/json",
      ["Authorization"] = "Bearer " .. token,
    }, body)
  end
  counter = math.random(#requests)
end

function request()
  counter = counter % #requests + 1
  return requests[counter]
end
