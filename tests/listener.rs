//! The listener of `ecwid-sync run` under abuse: stalled connections past the process's
//! file limit, slow but honest senders, and floods of refused deliveries.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
const BODY_TIMEOUT: Duration = Duration::from_secs(3);
const IDLE_TIMEOUT: Duration = Duration::from_secs(2);
/// The daemon's file limit in the test that exhausts it, and its cap on connections.
const FILE_LIMIT: u64 = 256;
const MAX_CONNECTIONS: u32 = 100;

/// `ecwid-sync run` receiving `store`'s webhooks with the listener limits above, and, when
/// `file_limit` is set, at most that many open files.
struct Daemon {
    _scratch: Scratch,
    db: PathBuf,
    listen: std::net::SocketAddr,
    log: StderrLog,
    _child: tokio::process::Child,
}

impl Daemon {
    async fn start(store: &TestStore, file_limit: Option<u64>, rust_log: &str) -> Daemon {
        let scratch = Scratch::new();
        let db = scratch.path("mirror.db");
        let listen = free_local_addr();
        let text = webhook_config_text(store, &db, listen, "").replace(
            &format!("listen = \"{listen}\""),
            &format!(
                "listen = \"{listen}\"\nheader_read_timeout_secs = {}\nbody_read_timeout_secs = {}\nidle_timeout_secs = {}\nmax_connections = {MAX_CONNECTIONS}",
                HEADER_TIMEOUT.as_secs(),
                BODY_TIMEOUT.as_secs(),
                IDLE_TIMEOUT.as_secs()
            ),
        );
        let config = db.with_extension("toml");
        std::fs::write(&config, text).unwrap();
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_ecwid-sync"));
        command
            .arg("--config")
            .arg(&config)
            .arg("run")
            .env("RUST_LOG", rust_log)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(limit) = file_limit {
            // SAFETY: only setrlimit, which is async-signal-safe, runs between fork and exec.
            unsafe {
                command.pre_exec(move || {
                    let limit = libc::rlimit {
                        rlim_cur: limit as libc::rlim_t,
                        rlim_max: limit as libc::rlim_t,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = command.spawn().expect("start ecwid-sync");
        let log = StderrLog::collect(&mut child);
        assert!(first_pass_done(&db).await, "first pass: {}", log.text());
        Daemon {
            _scratch: scratch,
            db,
            listen,
            log,
            _child: child,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.listen)
    }
}

/// A client that opens a new connection for each request, as Ecwid's deliveries do.
fn fresh_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

fn signature_of(store: &TestStore, event: &Value) -> String {
    ecwid_emulator::signature(
        &store.config.client_secret,
        event["eventCreated"].as_i64().unwrap(),
        event["eventId"].as_str().unwrap(),
    )
}

/// Posts `event` signed as Ecwid signs it; the status and how long the answer took.
async fn deliver_signed(daemon: &Daemon, store: &TestStore, event: &Value) -> (u16, Duration) {
    let started = Instant::now();
    let status = fresh_client()
        .post(daemon.url("/webhooks/ecwid"))
        .header("Content-Type", "application/json")
        .header("X-Ecwid-Webhook-Signature", signature_of(store, event))
        .body(event.to_string())
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0);
    (status, started.elapsed())
}

/// Reads one HTTP/1.1 answer from `stream` (headers and a Content-Length body), waiting at
/// most 10 s for it.
async fn read_answer(stream: &mut TcpStream) -> String {
    tokio::time::timeout(Duration::from_secs(10), read_answer_unbounded(stream))
        .await
        .expect("an answer within 10 s")
}

async fn read_answer_unbounded(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await.expect("an answer");
        assert!(n > 0, "the connection closed before its answer");
        answer.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&answer).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if answer.len() >= end + 4 + length {
                return text;
            }
        }
    }
}

/// Whether the server closes `stream` before `deadline` (reading and dropping whatever it
/// answers first).
async fn closed_by_server(mut stream: TcpStream, deadline: tokio::time::Instant) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn stalled_connections_past_the_file_limit_are_closed_while_webhooks_and_healthz_answer_within_a_second()
 {
    let store = TestStore::start(TestStore::small()).await;
    let daemon = Daemon::start(&store, Some(FILE_LIMIT), "info").await;
    let addr = daemon.listen;

    // More connections than the daemon may open files: a quarter each send half a
    // request's headers, headers and 10 bytes of a 1,000-byte body, nothing at all, or one
    // request and then nothing (an idle keep-alive).
    let body = product_event("stalled", 1).to_string();
    let mut stalled = Vec::new();
    for n in 0..FILE_LIMIT + 44 {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        match n % 4 {
            0 => stream
                .write_all(b"POST /webhooks/ecwid HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty")
                .await
                .unwrap(),
            1 => stream
                .write_all(
                    format!(
                        "POST /webhooks/ecwid HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n{}",
                        &body[..10]
                    )
                    .as_bytes(),
                )
                .await
                .unwrap(),
            2 => {}
            _ => {
                stream
                    .write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                    .await
                    .unwrap();
                // The daemon may already have closed it to make room; a keep-alive it
                // still holds has answered.
                let _ = tokio::time::timeout(Duration::from_secs(1), async {
                    let mut buf = [0u8; 1];
                    stream.peek(&mut buf).await
                })
                .await;
            }
        }
        stalled.push(stream);
    }
    let opened = tokio::time::Instant::now();

    for n in 0..10 {
        let event = product_event(&format!("after-stall-{n}"), 1);
        let (status, took) = deliver_signed(&daemon, &store, &event).await;
        assert_eq!(
            status,
            200,
            "webhook {n} answered in {took:?}: {}",
            daemon.log.text()
        );
        assert!(took < Duration::from_secs(1), "webhook {n} took {took:?}");
        let started = Instant::now();
        let health = fresh_client()
            .get(daemon.url("/healthz"))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        let took = started.elapsed();
        assert_eq!(health, 200, "/healthz {n} after {took:?}");
        assert!(took < Duration::from_secs(1), "/healthz {n} took {took:?}");
    }
    assert_eq!(
        count(
            &daemon.db,
            "SELECT count(*) FROM webhook_events WHERE event_id LIKE 'after-stall-%'"
        ),
        10
    );

    // Every stalled connection is closed by the server within its phase's deadline.
    let deadline =
        opened + HEADER_TIMEOUT.max(BODY_TIMEOUT).max(IDLE_TIMEOUT) + Duration::from_secs(2);
    let total = stalled.len();
    let closed = futures_closed(stalled, deadline).await;
    assert_eq!(closed, total, "stalled connections closed by the server");
    assert!(
        !daemon.log.contains("Too many open files"),
        "{}",
        daemon.log.text()
    );
    // The cap and the daemon's own files need more than the hard limit allows: said once.
    assert_eq!(
        daemon.log.text().matches("raise LimitNOFILE").count(),
        1,
        "{}",
        daemon.log.text()
    );
}

/// How many of `streams` the server closes before `deadline`.
async fn futures_closed(streams: Vec<TcpStream>, deadline: tokio::time::Instant) -> usize {
    let mut checks = tokio::task::JoinSet::new();
    for stream in streams {
        checks.spawn(closed_by_server(stream, deadline));
    }
    let mut closed = 0;
    while let Some(outcome) = checks.join_next().await {
        closed += outcome.unwrap() as usize;
    }
    closed
}

#[tokio::test]
async fn a_webhook_trickling_in_under_its_timeouts_is_answered_200_and_one_that_stops_half_way_408()
{
    let store = TestStore::start(TestStore::small()).await;
    let daemon = Daemon::start(&store, None, "info").await;
    let event = product_event("slow-but-honest", 1);
    let body = event.to_string();
    let head = format!(
        "POST /webhooks/ecwid HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nX-Ecwid-Webhook-Signature: {}\r\nContent-Length: {}\r\n\r\n",
        signature_of(&store, &event),
        body.len()
    );
    let mut stream = TcpStream::connect(daemon.listen).await.unwrap();
    let started = Instant::now();
    // Headers over about 1 s (under the 2 s header timeout), then the body over about 2 s
    // (under the 3 s body timeout): 3 s in all, longer than either phase's own limit
    // alone but for the body's.
    for chunk in head.as_bytes().chunks(head.len().div_ceil(10)) {
        stream.write_all(chunk).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for chunk in body.as_bytes().chunks(body.len().div_ceil(20)) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        stream.write_all(chunk).await.unwrap();
    }
    let answer = read_answer(&mut stream).await;
    assert!(
        started.elapsed() > HEADER_TIMEOUT,
        "{:?}",
        started.elapsed()
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(
        count(
            &daemon.db,
            "SELECT count(*) FROM webhook_events WHERE event_id = 'slow-but-honest'"
        ),
        1
    );

    // A body that stops half-way gets 408 once its timeout passes, and is not stored.
    let event = product_event("stopped-half-way", 1);
    let body = event.to_string();
    let mut stream = TcpStream::connect(daemon.listen).await.unwrap();
    stream
        .write_all(
            format!(
                "POST /webhooks/ecwid HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Ecwid-Webhook-Signature: {}\r\nContent-Length: {}\r\n\r\n{}",
                signature_of(&store, &event),
                body.len(),
                &body[..body.len() / 2]
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let started = Instant::now();
    let answer = read_answer(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(started.elapsed() < BODY_TIMEOUT + Duration::from_secs(1));
    assert_eq!(
        count(
            &daemon.db,
            "SELECT count(*) FROM webhook_events WHERE event_id = 'stopped-half-way'"
        ),
        0
    );
}

#[tokio::test]
async fn a_flood_of_refused_deliveries_logs_one_line_per_reason_and_a_valid_webhook_after_it_is_logged()
 {
    let store = TestStore::start(TestStore::small()).await;
    let daemon = Daemon::start(&store, None, "info,ecwid_sync::webhooks=debug").await;
    const FORGED: usize = 2000;
    const MALFORMED: usize = 200;
    let http = reqwest::Client::new();
    let mut senders = tokio::task::JoinSet::new();
    for sender in 0..8 {
        let http = http.clone();
        let url = daemon.url("/webhooks/ecwid");
        senders.spawn(async move {
            for n in (sender..FORGED + MALFORMED).step_by(8) {
                let request = if n < FORGED {
                    http.post(&url)
                        .header("X-Ecwid-Webhook-Signature", "forged")
                        .body(product_event(&format!("forged-{n}"), 1).to_string())
                } else {
                    http.post(&url).body("not json")
                };
                let status = request.send().await.unwrap().status().as_u16();
                assert_eq!(status, if n < FORGED { 401 } else { 400 });
            }
        });
    }
    while let Some(sent) = senders.join_next().await {
        sent.unwrap();
    }

    let event = product_event("valid-after-flood", 1);
    let (status, _) = deliver_signed(&daemon, &store, &event).await;
    assert_eq!(status, 200);
    assert!(
        wait_until(Duration::from_secs(10), || async {
            daemon.log.contains("valid-after-flood")
        })
        .await,
        "the valid webhook is logged as usual: {}",
        daemon.log.text()
    );
    let metrics = scrape_metrics(daemon.listen).await;
    assert_eq!(
        metrics["ecwid_sync_webhooks_rejected_total{reason=\"bad_signature\"}"],
        FORGED as f64
    );
    assert_eq!(
        metrics["ecwid_sync_webhooks_rejected_total{reason=\"malformed\"}"],
        MALFORMED as f64
    );
    let log = daemon.log.text();
    let refused: Vec<&str> = log.lines().filter(|l| l.contains("refused")).collect();
    // The flood took well under the minute between two lines of one reason.
    assert_eq!(refused.len(), 2, "{refused:#?}");
    assert!(refused.iter().any(|l| l.contains("bad_signature")));
    assert!(refused.iter().any(|l| l.contains("malformed")));
}
