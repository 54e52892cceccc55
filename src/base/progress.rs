//! Progress for long operations (a first flush of a big transcript, compact, show of a big
//! session): one line on stderr, rewritten in place, only when stderr is a terminal and the
//! work is big enough to be worth it. Nothing at all otherwise (pipes, CI, the hook).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Below this many bytes nobody needs a progress line.
const WORTH_IT: u64 = 16 * 1024 * 1024;

/// A progress line for `total` bytes of work.
pub struct Progress {
    label: String,
    total: u64,
    shown: bool,
    last: Option<Instant>,
    enabled: bool,
}

impl Progress {
    /// Shows anything only when stderr is a terminal and `total` is large.
    pub fn new(label: impl Into<String>, total: u64) -> Progress {
        Progress {
            label: label.into(),
            total,
            shown: false,
            last: None,
            enabled: total >= WORTH_IT && std::io::stderr().is_terminal(),
        }
    }

    /// Report `done` bytes (throttled to ten updates a second).
    pub fn update(&mut self, done: u64) {
        if !self.enabled || self.last.is_some_and(|t| t.elapsed() < Duration::from_millis(100)) {
            return;
        }
        self.last = Some(Instant::now());
        self.shown = true;
        let pct = (done.min(self.total) * 100).checked_div(self.total).unwrap_or(100);
        let _ = write!(
            std::io::stderr(),
            "\r{}: {:.1} / {:.1} MB ({pct}%)",
            self.label,
            done as f64 / 1e6,
            self.total as f64 / 1e6
        );
    }

    /// Clear the line.
    pub fn finish(&mut self) {
        if self.shown {
            let _ = write!(std::io::stderr(), "\r\x1b[K");
            self.shown = false;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
