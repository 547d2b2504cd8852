//! `vtpolicy serve` throughput: argv decisions per second under the stock
//! `workspace-write`, through standard input and output (one client,
//! pipelined) and through the unix socket (two clients at once).
//!
//! `cargo bench -p vtpolicy-cli --bench serve`; the request count is
//! `VTPOLICY_BENCH_REQUESTS` (default 200,000).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Everyday argv calls, allowed, asked and denied ones mixed.
const CALLS: &[&[&str]] = &[
    &["git", "status"],
    &["git", "push", "-f", "origin", "main"],
    &["cargo", "test", "--workspace"],
    &["ls", "-la", "src"],
    &["rm", "-rf", "target"],
    &["npm", "run", "build"],
    &["cat", "/root/.ssh/id_rsa"],
    &["grep", "-rn", "TODO", "src"],
];

fn lines(count: usize, client: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..count {
        let argv = CALLS[i % CALLS.len()];
        let line = serde_json::json!({"id": [client, i], "request": {"kind": "exec", "argv": argv}});
        writeln!(out, "{line}").unwrap();
    }
    out
}

/// Sends `input` and counts the answers, returning the time it took.
fn exchange(
    mut writer: impl std::io::Write + Send + 'static,
    reader: impl std::io::Read,
    input: Vec<u8>,
    count: usize,
) -> Duration {
    let start = Instant::now();
    let feeder = std::thread::spawn(move || {
        writer.write_all(&input).unwrap();
        writer.flush().unwrap();
        writer
    });
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    let mut line = String::new();
    for _ in 0..count {
        line.clear();
        reader.read_line(&mut line).unwrap();
        assert!(line.contains("\"decision\""), "{line}");
    }
    let elapsed = start.elapsed();
    drop(feeder.join().unwrap());
    elapsed
}

fn main() {
    let count: usize = std::env::var("VTPOLICY_BENCH_REQUESTS").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000);
    let dir = tempfile::Builder::new().prefix("vtpolicy-bench-serve").tempdir().unwrap();
    let ws = dir.path().canonicalize().unwrap();
    let vtpolicy = env!("CARGO_BIN_EXE_vtpolicy");

    let mut child = Command::new(vtpolicy)
        .args(["serve", "--policy", "workspace-write"])
        .current_dir(&ws)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let elapsed = exchange(stdin, stdout, lines(count, 0), count);
    child.wait().unwrap();
    report("stdin/stdout, 1 client", count, elapsed);

    let socket = ws.join("serve.sock");
    let mut server = Command::new(vtpolicy)
        .args(["serve", "--policy", "workspace-write", "--socket"])
        .arg(&socket)
        .current_dir(&ws)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&socket);
    let per_client = count / 2;
    let start = Instant::now();
    let clients: Vec<_> = (0..2)
        .map(|client| {
            let socket = socket.clone();
            std::thread::spawn(move || {
                let stream = std::os::unix::net::UnixStream::connect(&socket).unwrap();
                let writer = stream.try_clone().unwrap();
                exchange(writer, stream, lines(per_client, client), per_client)
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
    report("unix socket, 2 clients", per_client * 2, start.elapsed());
    let _ = server.kill();
    let _ = server.wait();
}

fn wait_for(socket: &Path) {
    let start = Instant::now();
    while std::os::unix::net::UnixStream::connect(socket).is_err() {
        assert!(start.elapsed() < Duration::from_secs(10), "the server did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn report(name: &str, count: usize, elapsed: Duration) {
    let rate = count as f64 / elapsed.as_secs_f64();
    println!("{name:<24} {count} argv decisions in {:>7.1} ms: {rate:>9.0} decisions/s", elapsed.as_secs_f64() * 1e3);
}
