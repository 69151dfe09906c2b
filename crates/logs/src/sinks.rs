//! Where serialized entries go. Each sink receives the same bytes: one JSON object per line.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Stdout, Write};
use std::path::Path;

/// A destination for serialized entries. Called only from the pipeline's writer thread, so a
/// sink may do blocking I/O.
pub trait LogSink: Send {
    /// Writes one line (the JSON entry followed by `\n`).
    fn write_line(&mut self, line: &[u8]) -> io::Result<()>;
    /// Pushes buffered lines to their destination; called whenever the queue runs empty.
    fn flush(&mut self) -> io::Result<()>;
    /// A short name for diagnostics.
    fn name(&self) -> &'static str;
}

/// JSON lines on standard output.
pub struct StdoutSink(BufWriter<Stdout>);

impl StdoutSink {
    pub fn new() -> Self {
        StdoutSink(BufWriter::with_capacity(64 * 1024, io::stdout()))
    }
}

impl Default for StdoutSink {
    fn default() -> Self {
        Self::new()
    }
}

impl LogSink for StdoutSink {
    fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        self.0.write_all(line)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
    fn name(&self) -> &'static str {
        "stdout"
    }
}

/// JSON lines appended to a file.
pub struct FileSink(BufWriter<File>);

impl FileSink {
    /// Opens `path` for appending, creating it (and its parent directory) if needed.
    pub fn open(path: &Path) -> io::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(FileSink(BufWriter::with_capacity(256 * 1024, file)))
    }
}

impl LogSink for FileSink {
    fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        self.0.write_all(line)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
    fn name(&self) -> &'static str {
        "file"
    }
}
