//! `bems demo --console`: the demo runs through, then keeps its world running and prints the
//! console's URL; the console answers there, mail keeps arriving, and Ctrl-C (SIGINT) ends it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The demo process, killed if the test ends early.
struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads `demo`'s standard output on a thread, line by line.
fn lines(demo: &mut Demo) -> mpsc::Receiver<String> {
    let stdout = demo.0.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// The first line containing `needle`, within `limit`.
fn wait_for(lines: &mpsc::Receiver<String>, needle: &str, limit: Duration) -> String {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return line,
            Ok(_) => {}
            Err(error) => panic!("no line with {needle:?} within {limit:?}: {error}"),
        }
    }
}

#[test]
fn the_demo_keeps_running_with_the_console_until_interrupted() {
    let child = Command::new(env!("CARGO_BIN_EXE_bems"))
        .args(["demo", "--console"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("bems demo starts");
    let mut demo = Demo(child);
    let lines = lines(&mut demo);
    let line = wait_for(&lines, "the console: http://", Duration::from_secs(120));
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("a URL");
    assert!(url.ends_with("/console"), "{line}");
    assert!(line.contains(bems_demo::ADMIN_TOKEN), "{line}");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let sign_in = runtime.block_on(async {
        let response = reqwest::get(format!("{url}/sign-in"))
            .await
            .expect("the console answers");
        (
            response.status().as_u16(),
            response.text().await.expect("body"),
        )
    });
    assert_eq!(sign_in.0, 200);
    assert!(sign_in.1.contains("Admin token"), "{}", sign_in.1);

    // Mail keeps coming, and its pushes with it.
    let mail = wait_for(&lines, "mail 1 to", Duration::from_secs(20));
    assert!(mail.contains("pushes so far"), "{mail}");

    let pid = demo.0.id().to_string();
    let interrupted = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill runs");
    assert!(interrupted.success());
    let status = demo.0.wait().expect("the demo ends");
    assert!(status.success(), "Ctrl-C ends the demo cleanly: {status}");
}
