//! The binary prints exactly one `listening on http://ADDR` line when ready, then serves.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

#[tokio::test]
async fn binary_announces_its_address_and_serves() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ecwid-emulator"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--products",
            "5",
            "--rate-limit",
            "0",
            "--seed",
            "3",
            // The current platform's settings parse.
            "--index-lag",
            "0.5",
            "--webhook-events",
            "all",
            "--order-id-prefix",
            "T-",
            "--honor-order-number-filter",
            "--deleted-retention",
            "3600",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the emulator binary starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    // Blocks until the server is ready: the line is printed only after binding.
    stdout.read_line(&mut line).expect("first line");
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .map(str::to_string);
    let result = async {
        let url = url.ok_or_else(|| format!("unexpected first line: {line:?}"))?;
        let body: serde_json::Value = reqwest::Client::new()
            .get(format!("{url}/api/v3/1003/products"))
            .bearer_auth("secret_test")
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        if body["total"] != 5 {
            return Err(format!("unexpected body {body}"));
        }
        Ok::<_, String>(())
    }
    .await;
    child.kill().expect("stop the child we started");
    let _ = child.wait();
    let mut rest = String::new();
    let _ = stdout.read_to_string(&mut rest);
    result.unwrap();
    assert!(
        rest.trim().is_empty(),
        "nothing but the one line on stdout: {rest:?}"
    );
}
