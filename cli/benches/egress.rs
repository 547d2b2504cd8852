//! The egress proxy's cost: per-connection latency and bulk throughput of
//! a client talking to a loopback server directly (outside any sandbox)
//! against the same client inside `vtpolicy run`, where every connection
//! is a `CONNECT` through the proxy. The two take turns, so machine noise
//! hits them alike.
//!
//! `cargo bench -p vtpolicy-cli --bench egress`; `VTPOLICY_BENCH_ROUNDS`
//! rounds (default 5) of `VTPOLICY_BENCH_CONNECTIONS` connections (default
//! 500) and one bulk transfer of `VTPOLICY_BENCH_BULK_MIB` MiB (default
//! 1024) each. The client is this binary, run with `--egress-client`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHUNK: usize = 1 << 20;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--egress-client") {
        client(&args[2], args[3].parse().unwrap(), args[4].parse().unwrap(), args[5].parse().unwrap());
        return;
    }
    let number = |name: &str, default: usize| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let rounds = number("VTPOLICY_BENCH_ROUNDS", 5);
    let connections = number("VTPOLICY_BENCH_CONNECTIONS", 500);
    let bulk = number("VTPOLICY_BENCH_BULK_MIB", 1024) * CHUNK;
    let port = server();
    let dir = tempfile::Builder::new().prefix("vtpolicy-bench-egress").tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let ws = root.join("ws");
    std::fs::create_dir(&ws).unwrap();
    // Outside the workspace: a policy inside it could only tighten.
    let policy = root.join("bench.vtp");
    std::fs::write(
        &policy,
        format!(
            "version 1\npolicy \"bench\"\nallow read \"/**\"\nallow write \"${{workspace}}/**\", \"/dev/null\"\n\
             allow exec * ..\nallow net \"localhost\" port {port}\n"
        ),
    )
    .unwrap();
    let me = std::env::current_exe().unwrap();
    let client_args = |mode: &str| {
        vec!["--egress-client".to_owned(), mode.to_owned(), port.to_string(), connections.to_string(), bulk.to_string()]
    };
    let mut direct = Vec::new();
    let mut proxied = Vec::new();
    for _ in 0..rounds {
        let out = Command::new(&me).args(client_args("direct")).stderr(Stdio::inherit()).output().unwrap();
        direct.push(parse(&out.stdout));
        let out = Command::new(env!("CARGO_BIN_EXE_vtpolicy"))
            .args(["run", "--yes", "--events", "/dev/null", "--policy"])
            .arg(&policy)
            .arg("--")
            .arg(&me)
            .args(client_args("proxy"))
            .current_dir(&ws)
            .stderr(Stdio::inherit())
            .output()
            .unwrap();
        assert!(out.status.success(), "the sandboxed client failed");
        proxied.push(parse(&out.stdout));
    }
    let median = |values: &mut Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let (mut direct_latency, mut direct_rate): (Vec<f64>, Vec<f64>) = direct.into_iter().unzip();
    let (mut proxied_latency, mut proxied_rate): (Vec<f64>, Vec<f64>) = proxied.into_iter().unzip();
    let (dl, pl) = (median(&mut direct_latency), median(&mut proxied_latency));
    let (dr, pr) = (median(&mut direct_rate), median(&mut proxied_rate));
    println!("{rounds} rounds, interleaved; each {connections} connections and {} MiB in bulk\n", bulk / CHUNK);
    println!("| path | connection, median | bulk throughput |");
    println!("|---|---|---|");
    println!("| direct, no sandbox | {dl:.1} µs | {:.2} GB/s |", dr / 1e9);
    println!("| `vtpolicy run`, CONNECT through the proxy | {pl:.1} µs | {:.2} GB/s |", pr / 1e9);
    println!("\nper-connection overhead {:.1} µs; throughput ratio {:.2}", pl - dl, pr / dr);
}

/// `latency_us throughput_bytes_per_second` as the client printed it.
fn parse(stdout: &[u8]) -> (f64, f64) {
    let text = String::from_utf8_lossy(stdout);
    let mut words = text.split_whitespace().map(|w| w.parse::<f64>().unwrap());
    (words.next().unwrap(), words.next().unwrap())
}

/// A loopback server: `x` is answered `ok`, `b` with the bulk bytes the
/// rest of the request asks for (a decimal count).
fn server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut request = [0u8; 32];
                let n = stream.read(&mut request).unwrap_or(0);
                match request.first() {
                    Some(b'b') => {
                        let count: usize = String::from_utf8_lossy(&request[1..n]).trim().parse().unwrap_or(0);
                        let chunk = vec![7u8; CHUNK];
                        let mut left = count;
                        while left > 0 {
                            let n = left.min(CHUNK);
                            if stream.write_all(&chunk[..n]).is_err() {
                                break;
                            }
                            left -= n;
                        }
                    }
                    _ => {
                        let _ = stream.write_all(b"ok");
                    }
                }
            });
        }
    });
    port
}

/// Opens a connection to the server: directly, or through the proxy.
fn open(mode: &str, port: u16) -> TcpStream {
    if mode == "direct" {
        return TcpStream::connect(("127.0.0.1", port)).unwrap();
    }
    let mut stream = TcpStream::connect(("127.0.0.1", 3128)).unwrap();
    stream.write_all(format!("CONNECT localhost:{port} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&head));
    stream
}

/// The client: prints the median connection time (connect, one exchange,
/// close) in microseconds and the bulk throughput in bytes per second.
fn client(mode: &str, port: u16, connections: usize, bulk: usize) {
    let mut times = Vec::with_capacity(connections);
    let mut reply = Vec::new();
    for _ in 0..connections {
        let started = Instant::now();
        let mut stream = open(mode, port);
        stream.write_all(b"x").unwrap();
        reply.clear();
        stream.read_to_end(&mut reply).unwrap();
        assert_eq!(reply, b"ok");
        times.push(started.elapsed());
    }
    times.sort();
    let latency = times[times.len() / 2];
    let mut stream = open(mode, port);
    let started = Instant::now();
    // One write: the server reads the request with one read.
    stream.write_all(format!("b{bulk}").as_bytes()).unwrap();
    let mut buffer = vec![0u8; CHUNK];
    let mut received = 0;
    loop {
        let n = stream.read(&mut buffer).unwrap();
        if n == 0 {
            break;
        }
        received += n;
    }
    let elapsed = started.elapsed().max(Duration::from_micros(1));
    assert_eq!(received, bulk);
    println!("{} {}", latency.as_secs_f64() * 1e6, bulk as f64 / elapsed.as_secs_f64());
}
