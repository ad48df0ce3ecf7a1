-- wrk script: GET /v1/bills for a rotating set of consumers and device keys (one key per device).
-- Env: BENCH_KEYS (comma-separated device keys, may be empty), BENCH_TARGETS
-- (tenant|service|consumer;...), BENCH_MODE = "integrator" (GET /v1/bills) or "direct" (POST
-- DIGIT's _fetchbill with a JSON RequestInfo, as the integrator sends it).
local keys, targets = {}, {}
local mode = os.getenv("BENCH_MODE") or "integrator"
for k in string.gmatch(os.getenv("BENCH_KEYS") or "", "[^,]+") do keys[#keys + 1] = k end
for t in string.gmatch(os.getenv("BENCH_TARGETS") or "", "[^;]+") do
  local tenant, service, code = string.match(t, "([^|]+)|([^|]+)|([^|]+)")
  targets[#targets + 1] = {tenant, service, code}
end
local function enc(s)
  return (string.gsub(s, "[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end
local counter = 0
local body = '{"RequestInfo":{"apiId":"Rainmaker","ver":".01","action":"_search","authToken":"bench"}}'
request = function()
  counter = counter + 1
  local t = targets[(counter % #targets) + 1]
  local query = "tenantId=" .. enc(t[1]) .. "&businessService=" .. enc(t[2]) .. "&consumerCode=" .. enc(t[3])
  if mode == "direct" then
    return wrk.format("POST", "/billing-service/bill/v2/_fetchbill?" .. query,
      {["Content-Type"] = "application/json"}, body)
  end
  local headers = {}
  if #keys > 0 then headers["Authorization"] = "Bearer " .. keys[(counter % #keys) + 1] end
  return wrk.format("GET", "/v1/bills?" .. query, headers, nil)
end
local statuses = {}
response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
done = function(summary, latency, requests)
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"errors_connect":%d,"errors_read":%d,"errors_write":%d,"errors_status":%d,"errors_timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.status, summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
