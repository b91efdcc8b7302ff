// README.md's /v2 walkthrough, run by the client generated from docs/openapi/v2.json
// (src/v2.d.ts, `make client`): who the key is, the stores, a named flow input and its version 2,
// what can be started, a start with an Idempotency-Key (sent twice, started once), the flow
// listed newest first until it ends, its logs, a rerun, an issue page and a count.
//
//   SLUICE_URL=http://127.0.0.1:8080 SLUICE_KEY=<a write key> node dist/walkthrough.js
//
// Each step prints one line; any answer that is not the one the walkthrough promises ends it
// with exit code 1, naming the step.

import createClient from "openapi-fetch";
import type { components, paths } from "./v2.js";

type Flow = components["schemas"]["Flow"];

const baseUrl = process.env.SLUICE_URL ?? "http://127.0.0.1:8080";
const key = process.env.SLUICE_KEY;
const client = createClient<paths>({
  baseUrl,
  headers: key ? { Authorization: `Bearer ${key}` } : {},
});

function step(name: string, detail: unknown): void {
  console.log(`${name}: ${JSON.stringify(detail)}`);
}

function fail(name: string, why: unknown): never {
  console.error(`${name} failed: ${JSON.stringify(why)}`);
  process.exit(1);
}

/// The answer's data, or the end of the walkthrough naming the step and the problem.
function expect<T>(name: string, answer: { data?: T; error?: unknown; response: Response }, status: number): T {
  if (answer.response.status !== status || answer.data === undefined) {
    fail(name, { status: answer.response.status, problem: answer.error });
  }
  return answer.data;
}

const sources = [
  { data_store: "orders", alias: "orders" },
  { data_store: "shop", table: "customers", alias: "customers" },
];
const outputs = [{ transform: "by_country" }];

async function main(): Promise<void> {
  const me = expect("who am I", await client.GET("/v2/keys/current"), 200);
  step("who am I", { name: me.name, scopes: me.scopes });

  for (const store of [
    { name: "orders", type: "file", connection: { path: "samples/orders.csv", format: "csv" } },
    { name: "shop", type: "relational_db", connection: { engine: "sqlite", path: "samples/shop.sqlite" } },
    { name: "report", type: "file", connection: { path: "out/revenue_by_country.csv", format: "csv" } },
  ] as const) {
    const created = expect("register a store", await client.POST("/v2/data-stores", { body: store }), 201);
    step("register a store", created.name);
  }

  const first = expect(
    "define revenue",
    await client.POST("/v2/flow-inputs", {
      body: {
        name: "revenue",
        sources,
        transforms: [
          {
            name: "by_country",
            sql: "SELECT c.country, count(*) AS orders FROM orders o JOIN customers c ON c.id = o.customer_id GROUP BY c.country",
          },
        ],
        outputs,
        target: "report",
      },
    }),
    201,
  );
  step("define revenue", { name: first.name, version: first.version });

  const second = expect(
    "add version 2",
    await client.POST("/v2/flow-inputs/{name}/versions", {
      params: { path: { name: "revenue" } },
      body: {
        sources,
        transforms: [
          {
            name: "by_country",
            sql: "SELECT c.country, count(*) AS orders, round(sum(o.amount), 2) AS revenue FROM orders o JOIN customers c ON c.id = o.customer_id GROUP BY c.country",
          },
        ],
        outputs,
        target: "report",
      },
    }),
    201,
  );
  step("add version 2", { name: second.name, version: second.version });

  const startable = expect("what can be started", await client.GET("/v2/flow-inputs", { params: { query: { count: true } } }), 200);
  const revenue = startable.items.find((input) => input.name === "revenue");
  if (revenue?.latest_version !== 2 || startable.total !== 1) {
    fail("what can be started", startable);
  }
  step("what can be started", startable.items.map((input) => `${input.name}:${input.latest_version}`));

  // The same start sent twice with one Idempotency-Key starts one flow.
  const start = () =>
    client.POST("/v2/flows", {
      body: { flow_input: "revenue" },
      headers: { "Idempotency-Key": "revenue-run-1" },
    });
  const flow = expect("start revenue", await start(), 201);
  const again = await start();
  const replayed = expect("start revenue again", again, 201);
  if (replayed.id !== flow.id || again.response.headers.get("Idempotent-Replayed") !== "true") {
    fail("start revenue again", { first: flow.id, again: replayed.id });
  }
  step("start revenue", { id: flow.id, flow_input: flow.flow_input, replayed: true });

  const ended = await newestUntilEnded(flow.id);
  if (ended.state !== "COMPLETED") {
    fail("follow the newest flow", ended);
  }
  step("follow the newest flow", { id: ended.id, state: ended.state, finished_at: ended.finished_at });

  const logs = expect(
    "read its logs",
    await client.GET("/v2/flows/{id}/logs", { params: { path: { id: flow.id }, query: { limit: 20 } } }),
    200,
  );
  if (logs.items.length === 0) {
    fail("read its logs", logs);
  }
  step("read its logs", logs.items.map((line) => `${line.id} ${line.stream}: ${line.line}`).slice(0, 3));

  const rerun = expect(
    "rerun it",
    await client.POST("/v2/flows/{id}/rerun", { params: { path: { id: flow.id } } }),
    201,
  );
  if (rerun.rerun_of !== flow.id) {
    fail("rerun it", rerun);
  }
  const rerunEnded = await newestUntilEnded(rerun.id);
  step("rerun it", { id: rerun.id, rerun_of: rerun.rerun_of, state: rerunEnded.state });

  const issues = expect(
    "an issue page",
    await client.GET("/v2/issues", {
      params: { query: { dataset: ["conservation-area"], limit: 2 } },
    }),
    200,
  );
  // The answer is a page, or an export when a format is asked for: here a page.
  if (typeof issues !== "object" || issues.items.length === 0) {
    fail("an issue page", issues);
  }
  step("an issue page", issues.items.map((issue) => issue.issue_type));

  const counts = expect(
    "a count",
    await client.GET("/v2/issues/counts", {
      params: { query: { group_by: ["dataset", "issue_type"], dataset: ["conservation-area"], limit: 3 } },
    }),
    200,
  );
  const largest = counts.items[0];
  if (largest === undefined || largest.count < 1) {
    fail("a count", counts);
  }
  step("a count", { dataset: largest.dataset, issue_type: largest.issue_type, count: largest.count });
}

/// The newest flow, read from the list newest first until it has ended; it must be `id`.
async function newestUntilEnded(id: number): Promise<Flow> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const page = expect(
      "follow the newest flow",
      await client.GET("/v2/flows", { params: { query: { order_by: "-created_at", limit: 1 } } }),
      200,
    );
    const newest = page.items[0];
    if (newest?.id !== id) {
      fail("follow the newest flow", { expected: id, newest: newest?.id });
    }
    if (newest.finished_at !== null && newest.finished_at !== undefined) {
      return newest;
    }
    if (Date.now() > deadline) {
      fail("follow the newest flow", newest);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

main().catch((error: unknown) => fail("the walkthrough", String(error)));
