//! The live dashboard in a real pseudo-terminal: tmux runs `demo` as a user would, the test
//! reads the screen with `capture-pane`, presses `q` with `send-keys`, and checks that the
//! run ends cleanly with exit status 0 and its final report.
//!
//! Needs `tmux` (Debian: `apt-get install tmux`). The test runs its own tmux server on a
//! private socket and kills only that server.

mod common;

use common::{BIN, Scratch, free_port};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// A private tmux server, killed when dropped (even when the test fails).
struct Tmux {
    socket: String,
}

impl Tmux {
    fn new() -> Self {
        Self {
            socket: format!("aureon-monitor-test-{}", std::process::id()),
        }
    }

    fn cmd(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("tmux is needed for this test (apt-get install tmux): {e}"))
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "demo"]).stdout)
            .into_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

/// Polls `check` every 200 ms for at most `limit`.
fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

#[test]
fn the_dashboard_shows_live_figures_and_quits_on_q() {
    let scratch = Scratch::new("tui");
    let status = scratch.path("status");
    let tmux = Tmux::new();
    let command = format!(
        "'{BIN}' demo --listen 127.0.0.1:{} --rate 50 --threads 2; echo \"exit=$?\" > '{}'; sleep 30",
        free_port(),
        status.display()
    );
    let started = tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "demo",
        "-x",
        "120",
        "-y",
        "40",
        &command,
    ]);
    assert!(
        started.status.success(),
        "tmux: {}",
        String::from_utf8_lossy(&started.stderr)
    );

    // The first evaluation and the first snapshot interval bring figures on screen.
    let mut screen = String::new();
    let shown = eventually(Duration::from_secs(20), || {
        screen = tmux.screen();
        // Any status: a loaded machine's scheduling hiccup is a real latency spike.
        ["● HEALTHY", "● DEGRADED", "● UNHEALTHY"]
            .iter()
            .any(|s| screen.contains(s))
            && screen.contains("Latency per operation, last")
            // The block that made p99 jump, by height (the demo's exemplars).
            && screen.contains("slowest block #")
            && screen.contains("block_processing")
            && screen.contains("µs")
            && screen.contains("Health checks")
    });
    assert!(shown, "the dashboard did not come up:\n{screen}");
    for needle in [
        "tx_validation",
        "header_validation",
        "Throughput ",
        "Errors by kind",
        "q/Esc quit",
        "/metrics",
    ] {
        assert!(
            screen.contains(needle),
            "{needle:?} not on screen:\n{screen}"
        );
    }

    tmux.cmd(&["send-keys", "-t", "demo", "q"]);
    let ended = eventually(Duration::from_secs(15), || status.exists());
    let after = tmux.screen();
    assert!(ended, "q did not end the run:\n{after}");
    let code = std::fs::read_to_string(&status).unwrap();
    assert_eq!(code.trim(), "exit=0", "{after}");
    // Back on the main screen: the final report, and no panic.
    assert!(
        after.contains("final report") && after.contains("stopped by q or Esc"),
        "{after}"
    );
    assert!(!after.contains("panicked"), "{after}");
}
