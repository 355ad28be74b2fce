-- wrk script for the mesh: POSTs IHelloService.hash calls with random parameters (ASCII, form
-- metacharacters, accented, CJK and non-BMP text) and checks every answer against Java's
-- String.hashCode computed here over UTF-16 code units.
--
-- wrk does not say which request a response belongs to, so each thread keeps a multiset of the
-- answers it is still owed: a response that is not in it is wrong. (A wrong answer could only go
-- unnoticed by equalling another outstanding expected hash: ~in-flight / 2^32.)

local service = "com.alibaba.dubbo.performance.demo.provider.IHelloService"
local prefix = "interface=" .. service ..
    "&method=hash&parameterTypesString=Ljava%2Flang%2FString%3B&parameter="

-- Code points to draw from: letters, digits, space and form metacharacters, Latin-1, Cyrillic,
-- CJK, and characters outside the BMP (two UTF-16 units each).
local alphabet = {
  0x61, 0x62, 0x7A, 0x41, 0x5A, 0x30, 0x39, 0x20, 0x2B, 0x26, 0x3D, 0x25, 0x2F, 0x3F,
  0xE9, 0xFC, 0xDF, 0x416, 0x44F, 0x4E2D, 0x6587, 0x8A9E, 0x3042, 0xAC00,
  0x1F600, 0x1F680, 0x1D11E, 0x20BB7,
}

local function utf8_bytes(cp)
  if cp < 0x80 then return string.char(cp) end
  if cp < 0x800 then
    return string.char(0xC0 + math.floor(cp / 0x40), 0x80 + cp % 0x40)
  end
  if cp < 0x10000 then
    return string.char(0xE0 + math.floor(cp / 0x1000), 0x80 + math.floor(cp / 0x40) % 0x40,
                       0x80 + cp % 0x40)
  end
  return string.char(0xF0 + math.floor(cp / 0x40000), 0x80 + math.floor(cp / 0x1000) % 0x40,
                     0x80 + math.floor(cp / 0x40) % 0x40, 0x80 + cp % 0x40)
end

local function url_encode(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

-- Java String.hashCode: h = 31*h + unit (mod 2^32) over UTF-16 units, as a signed 32-bit int.
local function java_hash(cps)
  local h = 0
  for _, cp in ipairs(cps) do
    if cp >= 0x10000 then
      local v = cp - 0x10000
      h = (h * 31 + 0xD800 + math.floor(v / 0x400)) % 4294967296
      h = (h * 31 + 0xDC00 + v % 0x400) % 4294967296
    else
      h = (h * 31 + cp) % 4294967296
    end
  end
  if h >= 2147483648 then h = h - 4294967296 end
  return string.format("%d", h)
end

local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() * 1000 + id)
  owed = {}      -- expected answer -> how many requests still owe it
  wrong = 0      -- 200 answers that no outstanding request expects
  errors = 0     -- non-200 answers
  answers = 0
  first_error = ""
  first_wrong = ""
end

function request()
  local n = math.random(1, 24)
  local cps, parts = {}, {}
  for i = 1, n do
    local cp = alphabet[math.random(#alphabet)]
    cps[i] = cp
    parts[i] = utf8_bytes(cp)
  end
  local expected = java_hash(cps)
  owed[expected] = (owed[expected] or 0) + 1
  local body = prefix .. url_encode(table.concat(parts))
  return wrk.format("POST", "/", {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end

function response(status, headers, body)
  answers = answers + 1
  if status ~= 200 then
    errors = errors + 1
    if first_error == "" then first_error = status .. " " .. body end
    return
  end
  local c = owed[body]
  if c == nil then
    wrong = wrong + 1
    if first_wrong == "" then first_wrong = body end
  elseif c == 1 then
    owed[body] = nil
  else
    owed[body] = c - 1
  end
end

function done(summary, latency, requests)
  local wrong_total, error_total, answer_total = 0, 0, 0
  local first_e, first_w = "", ""
  for _, t in ipairs(threads) do
    wrong_total = wrong_total + t:get("wrong")
    error_total = error_total + t:get("errors")
    answer_total = answer_total + t:get("answers")
    if first_e == "" then first_e = t:get("first_error") end
    if first_w == "" then first_w = t:get("first_wrong") end
  end
  io.write(string.format("MESH requests=%d duration_us=%d answers=%d non200=%d wrong=%d " ..
                         "socket_errors=%d timeouts=%d p50_us=%d p99_us=%d\n",
                         summary.requests, summary.duration, answer_total, error_total,
                         wrong_total, summary.errors.connect + summary.errors.read +
                         summary.errors.write, summary.errors.timeout,
                         latency:percentile(50), latency:percentile(99)))
  if first_e ~= "" then io.write("MESH first_error=" .. first_e .. "\n") end
  if first_w ~= "" then io.write("MESH first_wrong=" .. first_w .. "\n") end
end
