//! One flow cannot take the process down: under a memory cap on the whole process, as a container
//! has, an aggregate past its flow's operator memory spills and completes, a join past it fails
//! that flow saying so, another flow completes, and the process is still there.

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::Int64Type;
use std::path::PathBuf;
use std::time::Duration;

use crate::support::{Options, TestServer, one_transform_over_orders, orders_and_lake};

/// A memory cgroup holding one process, the way a container's memory limit holds it: past the
/// limit the kernel's OOM killer ends the process. Removed when dropped (after the process).
struct MemoryCap {
    group: PathBuf,
}

impl MemoryCap {
    /// Puts `pid` in a new memory cgroup of `bytes`; `None` where no memory cgroup can be made
    /// here (not root, or no memory controller), saying why.
    fn apply(pid: u32, bytes: u64) -> Option<Self> {
        // cgroup v2 where the memory controller is enabled at the root, else cgroup v1's.
        let v2 = PathBuf::from("/sys/fs/cgroup");
        let (root, limit_file) = if std::fs::read_to_string(v2.join("cgroup.subtree_control"))
            .is_ok_and(|c| c.split_whitespace().any(|c| c == "memory"))
        {
            (v2, "memory.max")
        } else {
            (
                PathBuf::from("/sys/fs/cgroup/memory"),
                "memory.limit_in_bytes",
            )
        };
        let group = root.join(format!("sluice-test-{pid}"));
        if let Err(err) = std::fs::create_dir(&group) {
            eprintln!(
                "no memory cgroup can be made in {} ({err}); the memory cap is not tested here",
                root.display()
            );
            return None;
        }
        let cap = Self { group };
        std::fs::write(cap.group.join(limit_file), bytes.to_string()).unwrap();
        std::fs::write(cap.group.join("cgroup.procs"), pid.to_string()).unwrap();
        Some(cap)
    }
}

impl Drop for MemoryCap {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.group);
    }
}

#[tokio::test]
async fn under_a_process_memory_cap_a_flow_past_its_memory_spills_or_fails_and_the_rest_go_on() {
    // The cap is dropped after the server (declared first), so its group is empty by then.
    let cap;
    let server = TestServer::start(Options {
        env: vec![
            ("SLUICE__ENGINE__OPERATOR_MEMORY_PER_FLOW_MB", "128".into()),
            ("SLUICE__ENGINE__MEMORY_PER_FLOW_MB", "32".into()),
        ],
        ..Options::default()
    })
    .await;
    // Room for the process and its flows' budgets; not for either big flow below without them
    // (without a limit the aggregate peaked at 1.2 GB, the join at 1.0 GB).
    cap = MemoryCap::apply(server.pid(), 512 << 20);
    if cap.is_none() {
        return;
    }
    let (orders, lake) = orders_and_lake(&server, 2000).await;
    // 4M rows made in the flow, each with up to 120 bytes of text no optimizer can fold away.
    let rows = "WITH big AS (SELECT a.id * 2000 + b.id AS k, \
                repeat(CAST(a.id AS VARCHAR), 30) AS pad FROM orders a CROSS JOIN orders b)";
    let flow_of = |sql: String, table: &str| one_transform_over_orders(orders, lake, &sql, table);
    // A hash join keeps one side's rows and their hash table in memory: it cannot spill.
    let joined = server
        .flow_input(flow_of(
            format!(
                "{rows} SELECT count(*) AS n FROM big x JOIN big y ON x.k = y.k AND x.pad = y.pad"
            ),
            "joined",
        ))
        .await;
    // An aggregate of 4M groups, each holding text: it spills its groups to disk.
    let grouped = server
        .flow_input(flow_of(
            format!(
                "{rows} SELECT count(*) AS groups, max(length(longest)) AS longest FROM \
                 (SELECT k, max(pad) AS longest FROM big GROUP BY k) g"
            ),
            "grouped",
        ))
        .await;
    let counted = server
        .flow_input(flow_of(
            "SELECT count(*) AS n FROM orders".into(),
            "counted",
        ))
        .await;
    let joined = server.start_flow(joined).await;
    let grouped = server.start_flow(grouped).await;
    let counted = server.start_flow(counted).await;

    let (_, end) = server.wait_for_end(joined, Duration::from_secs(120)).await;
    assert_eq!(end["output"]["state"], "FAILED", "{end}");
    let error = end["output"]["errors"]["lines"][0].as_str().unwrap();
    assert!(
        error.contains("needed more memory than engine.operator_memory_per_flow_mb allows"),
        "{error}"
    );
    let (_, end) = server.wait_for_end(grouped, Duration::from_secs(300)).await;
    assert_eq!(end["output"]["state"], "COMPLETED", "{end}");
    let (_, end) = server.wait_for_end(counted, Duration::from_secs(60)).await;
    assert_eq!(end["output"]["state"], "COMPLETED", "{end}");
    let grouped = crate::support::parquet_rows(
        &server.data.join("lake/grouped"),
        "SELECT CAST(groups AS BIGINT), CAST(longest AS BIGINT) FROM t",
    )
    .await;
    let column = |i: usize| grouped[0].column(i).as_primitive::<Int64Type>().value(0);
    assert_eq!((column(0), column(1)), (4_000_000, 120));
    assert_eq!(server.get("/healthz").await.0, 200);
}
