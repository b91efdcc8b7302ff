"""What every benchmark needs: start the release binary on a free port, call it, time its answers,
read its peak memory."""

import http.client
import json
import os
import re
import subprocess
import time
import urllib.parse
import urllib.request


def call(base, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method,
                                     headers={"content-type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


def state_database(data):
    """Where a benchmark's SQLite state database is: in its temporary folder, removed with it
    (Sluice keeps any file of its own out of the stores' reach)."""
    return os.path.join(data, "state", "sluice.sqlite")


def start_sluice(binary, data, **settings):
    """Starts Sluice on 127.0.0.1:0 with its data folder at `data` and any more settings given as
    SLUICE__… variables; returns the process and the base URL of /v1."""
    env = dict(os.environ, SLUICE__SERVER__ADDRESS="127.0.0.1:0", SLUICE__DATA__ROOT=data,
               SLUICE__DATABASE__PATH=state_database(data),
               SLUICE__ARCHIVE__INDEX_DIR=os.path.join(data, "state", "archive-index"),
               RUST_LOG="warn,sluice_server=info", NO_COLOR="1", **settings)
    process = subprocess.Popen([binary], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = []
    for line in process.stdout:
        seen.append(line)
        found = re.search(r"listening on (http://\S+)", line)
        if found:
            # Nothing more is read from the pipe: keep the log quiet enough not to fill it.
            return process, found.group(1) + "/v1"
    raise SystemExit("sluice did not start:\n" + "".join(seen))


def peak_rss_mb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def time_sluice(base, path, runs, warmup):
    """Seconds each of `runs` GETs of `path` took on one kept-alive connection, after `warmup`."""
    url = urllib.parse.urlparse(base)
    connection = http.client.HTTPConnection(url.hostname, url.port)
    samples = []
    for i in range(warmup + runs):
        started = time.perf_counter()
        connection.request("GET", url.path + path)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"{path}: {response.status}")
        if i >= warmup:
            samples.append(time.perf_counter() - started)
    connection.close()
    return samples


def finished_copy_flows(api, data, count):
    """`count` completed flows of a one-step copy of a tiny CSV; returns their (flow id, output id)."""
    with open(os.path.join(data, "tiny.csv"), "w") as f:
        f.write("id,name\n1,a\n2,b\n")
    source = call(api, "POST", "/data-stores",
                  {"name": "tiny", "type": "file", "connection": {"path": "tiny.csv", "format": "csv"}})
    target = call(api, "POST", "/data-stores",
                  {"name": "copy", "type": "file", "connection": {"path": "copy.csv", "format": "csv"}})
    flow_input = call(api, "POST", "/flow-inputs", {
        "source_data_store_ids": [source["id"]], "target_data_store_id": target["id"],
        "sources": [{"data_store_id": source["id"], "as": "tiny"}],
        "transforms": [{"name": "copied", "sql": "SELECT * FROM tiny"}],
        "outputs": [{"transform": "copied", "mode": "replace"}],
    })
    flows = []
    for _ in range(count):
        flow = call(api, "POST", "/flows", {"flow_input_id": flow_input["id"]})
        while flow["output"]["state"] not in ("COMPLETED", "FAILED", "CANCELLED"):
            time.sleep(0.02)
            flow = call(api, "GET", f"/flows/{flow['id']}")
        if flow["output"]["state"] != "COMPLETED":
            raise SystemExit(f"the setup flow ended {flow['output']['state']}")
        flows.append((flow["id"], flow["flow_output_id"]))
    return flows
