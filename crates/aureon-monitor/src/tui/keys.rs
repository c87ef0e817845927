//! The dashboard's keyboard: a thread that turns q, Esc and Ctrl-C into a stop of the run.
//!
//! It polls with a timeout and checks the stop signal between polls, so it ends by itself
//! soon after the run stops. [`Reader::finish`] waits a bounded time for that and otherwise
//! leaves the thread behind: when the terminal has gone away, crossterm's poll never returns
//! (see the module docs of `tui`), and the thread then ends with the process.

use crate::demo::stop::{StopReason, StopSignal};
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Longest wait for one key event before the stop signal is checked again.
const POLL: Duration = Duration::from_millis(100);
/// How long [`Reader::finish`] waits for the thread.
const FINISH_WITHIN: Duration = Duration::from_millis(500);

/// The running keyboard thread.
pub struct Reader {
    thread: JoinHandle<()>,
}

impl Reader {
    /// Starts reading keys; q and Esc stop the run with [`StopReason::Quit`], Ctrl-C with
    /// [`StopReason::Signal`] (raw mode turns Ctrl-C into a key instead of SIGINT).
    pub fn spawn(stop: &Arc<StopSignal>) -> std::io::Result<Self> {
        let stop = Arc::clone(stop);
        let thread = std::thread::Builder::new()
            .name("aureon-tui-keys".into())
            .spawn(move || {
                while !stop.is_stopped() {
                    match event::poll(POLL) {
                        Ok(false) => {}
                        Ok(true) => {
                            if let Ok(Event::Key(key)) = event::read()
                                && key.kind == KeyEventKind::Press
                            {
                                handle(&stop, key.code, key.modifiers);
                            }
                        }
                        // The terminal is unreadable: nothing more will come from it.
                        Err(_) => return,
                    }
                }
            })?;
        Ok(Self { thread })
    }

    /// Waits up to [`FINISH_WITHIN`] for the thread to end (the run has stopped).
    pub fn finish(self) {
        let deadline = Instant::now() + FINISH_WITHIN;
        while !self.thread.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if self.thread.is_finished() {
            // It only reads keys and sets the stop flag; nothing to recover if it panicked.
            let _ = self.thread.join();
        }
    }
}

fn handle(stop: &StopSignal, code: KeyCode, modifiers: KeyModifiers) {
    if code == KeyCode::Char('c') && modifiers.contains(KeyModifiers::CONTROL) {
        stop.stop(StopReason::Signal);
    } else if matches!(code, KeyCode::Char('q' | 'Q') | KeyCode::Esc) {
        stop.stop(StopReason::Quit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quit_keys_and_ctrl_c_stop_the_run_and_others_do_not() {
        let stop = StopSignal::new();
        handle(&stop, KeyCode::Char('x'), KeyModifiers::NONE);
        handle(&stop, KeyCode::Char('c'), KeyModifiers::NONE);
        assert!(!stop.is_stopped());
        handle(&stop, KeyCode::Esc, KeyModifiers::NONE);
        assert_eq!(stop.reason(), Some(StopReason::Quit));
        let stop = StopSignal::new();
        handle(&stop, KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(stop.reason(), Some(StopReason::Signal));
    }
}
