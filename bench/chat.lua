-- wrk script for bench/chat.sh: POST /v1/chat as many users, round robin.
-- TOKENS_FILE holds one access token per line.
local tokens = {}
local counter = 0

function init(args)
  for line in io.lines(os.getenv("TOKENS_FILE")) do
    tokens[#tokens + 1] = line
  end
  counter = math.random(#tokens)
end

function request()
  counter = counter % #tokens + 1
  local body = '{"message":"How was your day? Tell me something kind. #' .. counter .. '"}'
  return wrk.format("POST", "/v1/chat", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. tokens[counter],
  }, body)
end
