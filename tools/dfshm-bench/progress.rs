//! Progress of a long subcommand on standard error: on a terminal a bar with the time left; when
//! standard error is not a terminal (CI logs, `2> file`), a plain line at most every few seconds,
//! with the same estimate. Results go to standard output either way.

use indicatif::{ProgressBar, ProgressStyle};
use parking_lot::Mutex;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// How often a plain progress line is printed at most.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// The progress of `total` steps of some work (shareable between threads).
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    plain: Mutex<Plain>,
}

struct Plain {
    label: String,
    unit: &'static str,
    total: u64,
    done: u64,
    message: String,
    started: Instant,
    printed: Instant,
}

impl Progress {
    /// Progress of `total` `unit`s of the work called `label`.
    pub(crate) fn new(label: &str, total: u64, unit: &'static str) -> Progress {
        let now = Instant::now();
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            let template = format!(
                "{label} {{msg}} {{wide_bar}} {{human_pos}}/{{human_len}} {unit} ({{eta}} left)"
            );
            bar.set_style(
                ProgressStyle::with_template(&template)
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        Progress {
            bar,
            plain: Mutex::new(Plain {
                label: label.to_string(),
                unit,
                total,
                done: 0,
                message: String::new(),
                started: now,
                printed: now,
            }),
        }
    }

    /// What is being done now (shown beside the bar, or in the next plain line).
    pub(crate) fn set_message(&self, message: impl Into<String>) {
        let message = message.into();
        match &self.bar {
            Some(bar) => bar.set_message(message),
            None => self.plain.lock().message = message,
        }
    }

    /// `steps` more steps are done.
    pub(crate) fn inc(&self, steps: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(steps);
            return;
        }
        let mut plain = self.plain.lock();
        plain.done += steps;
        if plain.printed.elapsed() >= PLAIN_EVERY {
            plain.printed = Instant::now();
            eprintln!("{}", plain.line());
        }
    }

    /// Prints `line` on standard output without breaking the bar.
    pub(crate) fn println(&self, line: impl AsRef<str>) {
        let line = line.as_ref();
        match &self.bar {
            Some(bar) => bar.suspend(|| println!("{line}")),
            None => println!("{line}"),
        }
    }

    /// Prints `line` on standard error without breaking the bar.
    pub(crate) fn eprintln(&self, line: impl AsRef<str>) {
        let line = line.as_ref();
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    /// The work ended: the bar is cleared (a plain log keeps its lines).
    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Plain {
    /// `label message: done/total unit (P%), about S s left`.
    fn line(&self) -> String {
        let share = self.done as f64 / self.total.max(1) as f64;
        let elapsed = self.started.elapsed().as_secs_f64();
        let left = match self.done {
            0 => "time left unknown".to_string(),
            _ => format!("about {:.0} s left", elapsed / share - elapsed),
        };
        let message = match self.message.is_empty() {
            true => String::new(),
            false => format!(" {}", self.message),
        };
        format!(
            "{}{message}: {}/{} {} ({:.0}%), {left}",
            self.label,
            self.done,
            self.total,
            self.unit,
            share * 100.0
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_line_says_how_far_and_how_long_is_left() {
        let mut plain = Plain {
            label: "tpch".into(),
            unit: "runs",
            total: 40,
            done: 0,
            message: "shm-2 q3".into(),
            started: Instant::now() - Duration::from_secs(10),
            printed: Instant::now(),
        };
        assert_eq!(
            plain.line(),
            "tpch shm-2 q3: 0/40 runs (0%), time left unknown"
        );
        plain.done = 10;
        // A quarter took 10 s: about 30 s are left.
        assert_eq!(
            plain.line(),
            "tpch shm-2 q3: 10/40 runs (25%), about 30 s left"
        );
    }
}
