-- wrk script: POST /v1/payments, each request a new payment for its own bill (the bills were
-- served earlier, so their snapshots vouch for them while DIGIT is down: the 202 path).
-- Env: BENCH_KEYS (comma-separated device keys; empty for the bare ledger loop), BENCH_PREFIX
-- (bill ids are <prefix>-<thread>-<n>, seeded by bench/run.py), BENCH_TENANT.
local keys = {}
for k in string.gmatch(os.getenv("BENCH_KEYS") or "", "[^,]+") do keys[#keys + 1] = k end
local prefix = os.getenv("BENCH_PREFIX") or "acc"
local tenant = os.getenv("BENCH_TENANT") or "pb.amritsar"
local next_thread = 0
setup = function(thread)
  next_thread = next_thread + 1
  thread:set("tid", tostring(next_thread))
end
local tid, counter = "0", 0
init = function(args)
  tid = wrk.thread:get("tid")
end
request = function()
  counter = counter + 1
  local bill = prefix .. "-" .. tid .. "-" .. counter
  local body = '{"tenantId":"' .. tenant .. '","paymentMode":"CASH","paidBy":"Bench Payer",'
    .. '"bills":[{"billId":"' .. bill .. '","amount":100}]}'
  local headers = {["Content-Type"] = "application/json", ["Idempotency-Key"] = bill}
  if #keys > 0 then headers["Authorization"] = "Bearer " .. keys[(counter % #keys) + 1] end
  return wrk.format("POST", "/v1/payments", headers, body)
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
