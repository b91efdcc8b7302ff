"""/v2's platform costs, side by side in one run.

Keys: two processes on one state database, one with `auth.required` off and one with it on (each
request carrying a key), asked the same things in alternating rounds: a flow's view
(GET /v2/flows/{id}) and a 1000-flow page (GET /v2/flows?limit=1000). The bar is a p50 with keys
within 5% of the p50 without.

Events: a client follows a READY flow on one process (GET /v2/flows/{id}/events) while another
process cancels it; the time from the cancel's answer to the `state` event that says CANCELLED,
over many flows. Then flows run by one process and followed on another: the time from each log
line's creation to its arrival as a `log` event. The bar is a p99 under 500 ms, whichever
replica made the change."""

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from datetime import datetime

from common import call, start_sluice, state_database

FLOWS = 1000
ROUNDS = 6


def keyed_call(base, method, path, key, body=None):
    data = json.dumps(body).encode() if body is not None else None
    headers = {"content-type": "application/json", "authorization": f"Bearer {key}"}
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


def timed_gets(base, path, runs, key=None):
    """Seconds each of `runs` GETs took on one kept-alive connection, after ten to warm it."""
    url = urllib.parse.urlparse(base)
    connection = http.client.HTTPConnection(url.hostname, url.port)
    headers = {"authorization": f"Bearer {key}"} if key else {}
    samples = []
    for i in range(10 + runs):
        started = time.perf_counter()
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"{path}: {response.status}")
        if i >= 10:
            samples.append(time.perf_counter() - started)
    connection.close()
    return samples


def setup(api):
    """A tiny file store and FLOWS flows of a flow input over it, left READY (no runner)."""
    root = api[: -len("/v1")]
    call(root, "POST", "/v2/data-stores",
         {"name": "tiny", "type": "file", "connection": {"path": "tiny.csv", "format": "csv"}})
    call(root, "POST", "/v2/data-stores",
         {"name": "copy", "type": "file", "connection": {"path": "copy.csv", "format": "csv"}})
    call(root, "POST", "/v2/flow-inputs", {
        "name": "copy", "target": "copy",
        "sources": [{"data_store": "tiny", "alias": "tiny"}],
        "transforms": [{"name": "copied", "sql": "SELECT * FROM tiny"}],
        "outputs": [{"transform": "copied"}],
    })
    return [call(root, "POST", "/v2/flows", {"flow_input": "copy"})["id"] for _ in range(FLOWS)]


def keys_cost(open_root, keyed_root, key, flow):
    print(f"{'request':34}{'no key p50 ms':>15}{'key p50 ms':>12}{'ratio':>8}")
    failed = False
    for label, path, runs in [
        ("GET /v2/flows/{id}", f"/v2/flows/{flow}", 400),
        ("GET /v2/flows?limit=1000", "/v2/flows?limit=1000", 20),
    ]:
        without, with_key = [], []
        for _ in range(ROUNDS):
            without += timed_gets(open_root, path, runs)
            with_key += timed_gets(keyed_root, path, runs, key)
        a = statistics.median(without) * 1000
        b = statistics.median(with_key) * 1000
        print(f"{label:34}{a:>15.3f}{b:>12.3f}{b / a:>8.3f}")
        failed |= b > a * 1.05
    if failed:
        print("keys: below the bar (a p50 with keys more than 5% above the p50 without)")


def read_event(stream):
    """The next event on an SSE stream: (name, data), comments skipped."""
    name, data = None, None
    while True:
        line = stream.readline()
        if not line:
            return None, None
        line = line.decode().rstrip("\r\n")
        if line == "":
            if name:
                return name, data
            continue
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data = line[5:].strip()


def events_delay(follow_root, cancel, flows, count):
    delays = []
    url = urllib.parse.urlparse(follow_root)
    for flow in flows[:count]:
        connection = http.client.HTTPConnection(url.hostname, url.port)
        connection.request("GET", f"/v2/flows/{flow}/events")
        stream = connection.getresponse()
        # The opening events: the flow as it is (READY).
        name, data = read_event(stream)
        while name != "state":
            name, data = read_event(stream)
        cancel(flow)
        cancelled = time.perf_counter()
        while True:
            name, data = read_event(stream)
            if name is None:
                raise SystemExit(f"the stream of flow {flow} ended before CANCELLED")
            if name == "state" and "CANCELLED" in data:
                delays.append(time.perf_counter() - cancelled)
                break
        connection.close()
    delays.sort()
    p50 = delays[len(delays) // 2] * 1000
    p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))] * 1000
    print(f"{'events: cancel on one replica, followed on another':52}"
          f"{'flows':>7}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    print(f"{'':52}{len(delays):>7}{p50:>9.1f}{p99:>9.1f}{delays[-1] * 1000:>9.1f}")
    if p99 >= 500:
        print("events: below the bar (a p99 of 500 ms or more)")


def utc_seconds(rfc3339):
    """Seconds since the epoch of an RFC 3339 UTC time with up to nanoseconds."""
    whole, _, fraction = rfc3339.rstrip("Z").partition(".")
    seconds = datetime.fromisoformat(whole + "+00:00").timestamp()
    return seconds + (float("0." + fraction) if fraction else 0.0)


def lines_delay(binary, count):
    """Flows run by one process and followed as events on another: for each `log` event, the time
    from the line's `created_at` to its arrival (a step's progress is sent in the same poll as the
    lines that report it)."""
    data = tempfile.mkdtemp(prefix="sluice-bench-v2-events-")
    processes = []
    try:
        runner, runner_api = start_sluice(binary, data, SLUICE__RUNNER__MAX_CONCURRENT_FLOWS="2")
        processes.append(runner)
        follower, follower_api = start_sluice(binary, data, SLUICE__RUNNER__MAX_CONCURRENT_FLOWS="0")
        processes.append(follower)
        runner_root = runner_api[: -len("/v1")]
        follow = urllib.parse.urlparse(follower_api[: -len("/v1")])
        with open(os.path.join(data, "tiny.csv"), "w") as f:
            f.write("id,name\n" + "".join(f"{i},n{i}\n" for i in range(1000)))
        call(runner_root, "POST", "/v2/data-stores",
             {"name": "tiny", "type": "file", "connection": {"path": "tiny.csv", "format": "csv"}})
        call(runner_root, "POST", "/v2/data-stores",
             {"name": "lake", "type": "columnar_db", "connection": {"path": "lake"}})
        call(runner_root, "POST", "/v2/flow-inputs", {
            "name": "steps", "target": "lake",
            "sources": [{"data_store": "tiny", "alias": "tiny"}],
            "transforms": [{"name": "a", "sql": "SELECT * FROM tiny"},
                           {"name": "b", "sql": "SELECT id FROM a WHERE id % 2 = 0"}],
            "outputs": [{"transform": "b", "table": "b"}],
        })
        delays = []
        for _ in range(count):
            connection = http.client.HTTPConnection(follow.hostname, follow.port)
            flow = call(runner_root, "POST", "/v2/flows", {"flow_input": "steps"})["id"]
            connection.request("GET", f"/v2/flows/{flow}/events")
            stream = connection.getresponse()
            opened = time.time()
            while True:
                name, data_line = read_event(stream)
                if name is None:
                    break
                if name == "log":
                    arrived = time.time()
                    created = json.loads(data_line)["created_at"]
                    sent = utc_seconds(created)
                    # Lines written before the stream opened arrive at once: not a delivery.
                    if sent >= opened:
                        delays.append(arrived - sent)
            connection.close()
        delays.sort()
        p50 = delays[len(delays) // 2] * 1000
        p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))] * 1000
        print(f"{'events: log lines of flows run on another replica':52}"
              f"{'lines':>7}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
        print(f"{'':52}{len(delays):>7}{p50:>9.1f}{p99:>9.1f}{delays[-1] * 1000:>9.1f}")
        if p99 >= 500:
            print("events: below the bar (a p99 of 500 ms or more)")
    finally:
        for process in processes:
            process.terminate()
            process.wait()
        shutil.rmtree(data, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sluice", required=True, help="the release binary")
    parser.add_argument("--events", type=int, default=200, help="flows followed to their cancel")
    parser.add_argument("--flows", type=int, default=30, help="flows run and followed line by line")
    args = parser.parse_args()
    data = tempfile.mkdtemp(prefix="sluice-bench-v2-")
    # Serve only: flows stay READY until cancelled, so each change is the bench's own.
    serve_only = {"SLUICE__RUNNER__MAX_CONCURRENT_FLOWS": "0"}
    processes = []
    try:
        open_process, open_api = start_sluice(args.sluice, data, **serve_only)
        processes.append(open_process)
        flows = setup(open_api)
        env = dict(os.environ, SLUICE__DATA__ROOT=data, SLUICE__DATABASE__PATH=state_database(data))
        key = subprocess.run([args.sluice, "keys", "create", "--name", "bench", "--scope", "write"],
                             env=env, check=True, capture_output=True, text=True).stdout.strip()
        keyed_process, keyed_api = start_sluice(args.sluice, data, SLUICE__AUTH__REQUIRED="true",
                                                **serve_only)
        processes.append(keyed_process)
        open_root = open_api[: -len("/v1")]
        keyed_root = keyed_api[: -len("/v1")]
        assert keyed_call(keyed_root, "GET", f"/v2/flows/{flows[0]}", key)["state"] == "READY"
        keys_cost(open_root, keyed_root, key, flows[0])
        print()
        # Followed on the process without keys, cancelled through the other.
        events_delay(open_root,
                     lambda flow: keyed_call(keyed_root, "POST", f"/v2/flows/{flow}/cancel", key),
                     flows[1:], args.events)
    finally:
        for process in processes:
            process.terminate()
            process.wait()
        shutil.rmtree(data, ignore_errors=True)
    print()
    lines_delay(args.sluice, args.flows)


if __name__ == "__main__":
    main()
