//! What a server process is doing, read from /proc.

use std::time::{Duration, Instant};

/// Total CPU time (user + system) the process has used, from /proc.
/// Asserts that the process spends almost no CPU in the second that starts 2 s after a cancel was
/// `asked`: its work really stopped within the 2 s a cancel may take, not only its bookkeeping.
/// (A step in the middle of a CPU-bound batch when the cancel comes finishes that batch first;
/// on a loaded machine that tail spreads over more wall time, so the second measured starts at
/// the deadline rather than at the moment the flow reads CANCELLED.)
pub async fn assert_idle(pid: u32, after: &str, asked: Instant) {
    tokio::time::sleep_until((asked + Duration::from_secs(2)).into()).await;
    let before = cpu_time(pid);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let spent = cpu_time(pid) - before;
    assert!(
        spent < Duration::from_millis(300),
        "the process spent {spent:?} of CPU in the third second after {after}"
    );
}

pub fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line; 12 and 13 after the name.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 1000 / 100)
}
