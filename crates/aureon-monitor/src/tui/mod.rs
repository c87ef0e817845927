//! The live terminal dashboard of `demo` (ratatui on crossterm): it redraws from the
//! published snapshots and health a few times a second and ends the run on q, Esc or Ctrl-C.
//!
//! The keyboard is read on a thread of its own ([`keys`]), and the drawing loop waits on the
//! run's stop signal, not on the keyboard. This matters when the terminal goes away (a closed
//! window, a killed tmux): crossterm 0.29 then spins inside `event::poll` without ever
//! returning, and a drawing loop blocked there would never see the SIGHUP that stops the run.
//!
//! The terminal is put back (raw mode off, main screen) by a guard on every way out, errors
//! included; ratatui's panic hook does the same for a panic.

mod draw;
mod keys;
mod model;
mod screen;
mod spark;

use crate::demo::Live;
use crate::failure::Failure;
use std::time::Duration;

/// Time between redraws.
const REFRESH: Duration = Duration::from_millis(250);

/// Puts the terminal back when dropped. Errors are ignored: a terminal that is gone cannot
/// be restored, and saying so on it would fail too.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = ratatui::try_restore();
    }
}

/// Shows the dashboard until the run stops or the user quits.
pub fn run(live: &Live<'_>) -> Result<(), Failure> {
    let failed = |what: &str, e: std::io::Error| {
        Failure::run(format!(
            "the live dashboard failed to {what}: {e} (try --no-tui)"
        ))
    };
    let mut terminal = ratatui::try_init().map_err(|e| {
        let _ = ratatui::try_restore();
        failed("start", e)
    })?;
    let _restore = Restore;
    let keyboard = keys::Reader::spawn(live.stop).map_err(|e| failed("read the keyboard", e))?;
    let shown = loop {
        let screen = screen::Screen::gather(live);
        if let Err(e) = terminal.draw(|frame| draw::draw(frame, &screen)) {
            break Err(failed("draw", e));
        }
        if live.stop.wait(REFRESH) {
            break Ok(());
        }
    };
    keyboard.finish();
    shown
}
