//! Log lines collected in memory and written in batches by a background thread.
//!
//! The server writes an access line per request. A `write(2)` of each on the request's thread
//! was about 6% of its CPU under the patient-read benchmark; a channel to a writer thread
//! (tracing-appender) parks that thread whenever its queue is empty, so every line can cost a
//! wake-up. Here a line is appended
//! to a shared buffer under a mutex, and the writer thread takes the whole buffer every
//! `INTERVAL` (sooner once it holds `SOFT_CAP` bytes) and writes it with one call. If the buffer
//! reaches `HARD_CAP` (the output is stalled), the thread logging writes it out itself: logging
//! slows down, no line is dropped, and memory stays bounded.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

/// Longest a line waits in the buffer.
const INTERVAL: Duration = Duration::from_millis(100);
const SOFT_CAP: usize = 256 * 1024;
const HARD_CAP: usize = 4 * 1024 * 1024;

struct Shared {
    lines: Mutex<Vec<u8>>,
    /// Held while writing to the output, so batches keep their order.
    out: Mutex<Box<dyn Write + Send>>,
    wake: Condvar,
    stopped: AtomicBool,
}

impl Shared {
    /// Writes `batch` (taken from `lines`) to the output.
    fn write_out(&self, batch: &[u8]) {
        let mut out = self.out.lock();
        // Nowhere to report a failed log write; the next batch tries again.
        let _ = out.write_all(batch).and_then(|()| out.flush());
    }
}

/// The `MakeWriter` given to tracing-subscriber. Cheap to clone.
#[derive(Clone)]
pub struct LogBuffer {
    shared: Arc<Shared>,
}

/// Stops the writer thread and writes what is buffered when dropped. Keep it until exit.
pub struct LogBufferGuard {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LogBuffer {
    pub fn new(out: Box<dyn Write + Send>) -> (LogBuffer, LogBufferGuard) {
        let shared = Arc::new(Shared {
            lines: Mutex::new(Vec::with_capacity(SOFT_CAP)),
            out: Mutex::new(out),
            wake: Condvar::new(),
            stopped: AtomicBool::new(false),
        });
        let writer = shared.clone();
        let thread = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || {
                let mut batch = Vec::with_capacity(SOFT_CAP);
                loop {
                    let stopping = {
                        let mut lines = writer.lines.lock();
                        if lines.len() < SOFT_CAP && !writer.stopped.load(Ordering::Acquire) {
                            writer.wake.wait_for(&mut lines, INTERVAL);
                        }
                        std::mem::swap(&mut *lines, &mut batch);
                        writer.stopped.load(Ordering::Acquire)
                    };
                    if !batch.is_empty() {
                        writer.write_out(&batch);
                        batch.clear();
                    }
                    if stopping {
                        break;
                    }
                }
            })
            .expect("start the log writer thread");
        (
            LogBuffer {
                shared: shared.clone(),
            },
            LogBufferGuard {
                shared,
                thread: Some(thread),
            },
        )
    }
}

impl Drop for LogBufferGuard {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::Release);
        self.shared.wake.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        // Lines logged after the thread's last batch.
        let rest = std::mem::take(&mut *self.shared.lines.lock());
        self.shared.write_out(&rest);
    }
}

impl Write for LogBuffer {
    /// tracing-subscriber formats a whole event, then writes it with one call.
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let mut lines = self.shared.lines.lock();
        if lines.len() + line.len() > HARD_CAP {
            // Still holding `lines`: the writer thread cannot take a newer batch meanwhile.
            lines.extend_from_slice(line);
            self.shared.write_out(&lines);
            lines.clear();
            return Ok(line.len());
        }
        lines.extend_from_slice(line);
        if lines.len() >= SOFT_CAP {
            self.shared.wake.notify_one();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;
    fn make_writer(&'a self) -> LogBuffer {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An output that the test can read back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_arrive_whole_in_order_within_the_interval_and_at_drop() {
        let captured = Captured::default();
        let (log, guard) = LogBuffer::new(Box::new(captured.clone()));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let mut log = log.clone();
                std::thread::spawn(move || {
                    for i in 0..1_000 {
                        log.write_all(format!("thread {t} line {i}\n").as_bytes())
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // Without a drop, the writer thread writes them within its interval.
        std::thread::sleep(INTERVAL * 3);
        let text = String::from_utf8(captured.0.lock().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4_000);
        for t in 0..4 {
            let mine: Vec<&str> = lines
                .iter()
                .copied()
                .filter(|l| l.starts_with(&format!("thread {t} ")))
                .collect();
            let expected: Vec<String> =
                (0..1_000).map(|i| format!("thread {t} line {i}")).collect();
            assert_eq!(mine, expected, "thread {t}'s lines whole and in order");
        }

        // A line logged just before the guard drops is written by the drop.
        log.clone().write_all(b"last\n").unwrap();
        drop(guard);
        assert!(String::from_utf8(captured.0.lock().clone())
            .unwrap()
            .ends_with("last\n"));
    }

    #[test]
    fn a_stalled_output_holds_loggers_back_instead_of_growing_the_buffer() {
        let captured = Captured::default();
        let (mut log, guard) = LogBuffer::new(Box::new(captured.clone()));
        // Hold the output: the writer thread blocks on its next batch, loggers fill the buffer
        // to its cap, and the one that fills it then waits for the output too.
        let held = guard.shared.out.lock();
        let line = [b'x'; 1024];
        let total = 3 * HARD_CAP;
        let filler = std::thread::spawn(move || {
            for _ in 0..total / line.len() {
                log.write_all(&line).unwrap();
            }
        });
        std::thread::sleep(INTERVAL * 5);
        assert!(!filler.is_finished(), "logging went on past the cap");
        assert!(captured.0.lock().is_empty());
        drop(held);
        filler.join().unwrap();
        drop(guard);
        assert_eq!(captured.0.lock().len(), total, "every byte written once");
    }
}
