-- wrk's summary as one line bench/load.py reads: requests, errors and latency in milliseconds.
return function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d %.3f %.3f %.3f\n",
    summary.requests, errors.status, errors.connect, errors.read, errors.write, errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
