//! What a long command shows while it works: on a terminal, a spinner with the
//! current step and the elapsed time (finished steps and details scroll above it);
//! elsewhere (CI, pipes, tests) plain lines stamped with the elapsed seconds.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// A progress display on stderr.
pub struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
}

impl Progress {
    /// A spinner when stderr is a terminal, plain lines otherwise.
    pub fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{spinner:.cyan} [{elapsed:>3}] {msg}")
            {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        Progress {
            bar,
            started: Instant::now(),
        }
    }

    /// Seconds since the start.
    pub fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Reports a line: an indented one is a detail of the current step (kept in the
    /// scroll-back); any other starts a new step.
    pub fn line(&self, text: &str) {
        let stamped = format!("[{:>5.1}s] {text}", self.elapsed());
        match &self.bar {
            None => eprintln!("{stamped}"),
            Some(bar) if text.starts_with(' ') => bar.println(stamped),
            Some(bar) => {
                let previous = bar.message();
                if !previous.is_empty() {
                    bar.println(format!("  ✓ {previous}"));
                }
                bar.set_message(text.trim_end_matches("...").to_string());
            }
        }
    }

    /// Clears the spinner; later output goes straight to the terminal.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
