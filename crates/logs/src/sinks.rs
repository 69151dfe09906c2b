//! Where serialized entries go. Each sink receives the same bytes: one JSON object per line.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Stdout, Write};
use std::path::Path;

/// A destination for serialized entries. Called only from the pipeline's writer thread, so a
/// sink may do blocking I/O.
pub trait LogSink: Send {
    /// Writes one line (the JSON entry followed by `\n`).
    fn write_line(&mut self, line: &[u8]) -> io::Result<()>;
    /// Writes `count` whole lines at once (`lines` holds them one after the other, each ending
    /// with `\n`): the pipeline hands over every entry queued since the last call. By default,
    /// line by line; a sink that takes bytes overrides it to copy the batch in one go.
    fn write_lines(&mut self, lines: &[u8], count: usize) -> io::Result<()> {
        let _ = count;
        let mut result = Ok(());
        for line in lines.split_inclusive(|b| *b == b'\n') {
            if let Err(e) = self.write_line(line) {
                if result.is_ok() {
                    result = Err(e);
                }
            }
        }
        result
    }
    /// Pushes buffered lines to their destination; called whenever the queue runs empty.
    fn flush(&mut self) -> io::Result<()>;
    /// A short name for diagnostics.
    fn name(&self) -> &'static str;
    /// Entries this sink accepted but could not write (a full disk), since the last call; the
    /// pipeline adds them to its dropped count (`logEntriesDropped`).
    fn take_lost(&mut self) -> u64 {
        0
    }
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
    fn write_lines(&mut self, lines: &[u8], _: usize) -> io::Result<()> {
        self.0.write_all(lines)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
    fn name(&self) -> &'static str {
        "stdout"
    }
}

/// JSON lines appended to a file.
///
/// Opening repairs a last line that a crash cut short (`kill -9` in the middle of a write):
/// it is ended with a newline, so the next entry starts a line of its own. Lines are buffered
/// (256 KB, or a whole batch of the pipeline) and written whole; when a write fails (the disk is full), the lines that did not
/// reach the file are counted ([`LogSink::take_lost`]), and a line the failure cut short is
/// ended before the next write.
pub struct FileSink {
    file: File,
    buffer: Vec<u8>,
    /// Complete lines in `buffer`.
    lines: u64,
    /// The file ends inside a line (a write failed midway).
    torn: bool,
    lost: u64,
}

/// Bytes buffered before they are written.
const FILE_BUFFER: usize = 256 * 1024;

impl FileSink {
    /// Opens `path` for appending, creating it (and its parent directory) if needed.
    pub fn open(path: &Path) -> io::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = OpenOptions::new().create(true).read(true).append(true).open(path)?;
        let torn = ends_inside_a_line(&mut file)?;
        Ok(FileSink { file, buffer: Vec::with_capacity(FILE_BUFFER), lines: 0, torn, lost: 0 })
    }

    /// Writes the buffer; on failure counts the lines that did not reach the file.
    fn write_buffer(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        if self.torn {
            self.file.write_all(b"\n").inspect_err(|_| self.drop_buffer(0))?;
            self.torn = false;
        }
        let mut written = 0;
        while written < self.buffer.len() {
            match self.file.write(&self.buffer[written..]) {
                Ok(0) => {
                    self.drop_buffer(written);
                    return Err(io::Error::new(io::ErrorKind::WriteZero, "the log file took no bytes"));
                }
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.drop_buffer(written);
                    return Err(e);
                }
            }
        }
        self.buffer.clear();
        self.lines = 0;
        Ok(())
    }

    /// Gives up the buffer after its first `written` bytes reached the file.
    fn drop_buffer(&mut self, written: usize) {
        let complete = self.buffer[..written].iter().filter(|b| **b == b'\n').count() as u64;
        self.lost += self.lines - complete;
        if written > 0 {
            self.torn = self.buffer[written - 1] != b'\n';
        }
        self.buffer.clear();
        self.lines = 0;
    }
}

/// Whether a file's last byte is not a newline (a line cut short).
fn ends_inside_a_line(file: &mut File) -> io::Result<bool> {
    let len = file.metadata()?.len();
    if len == 0 || !file.metadata()?.is_file() {
        return Ok(false);
    }
    file.seek(SeekFrom::Start(len - 1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    Ok(last[0] != b'\n')
}

impl LogSink for FileSink {
    fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        let written = if self.buffer.len() + line.len() > FILE_BUFFER { self.write_buffer() } else { Ok(()) };
        // Kept even after a failure: the next write may find room again.
        self.buffer.extend_from_slice(line);
        self.lines += 1;
        written
    }
    fn write_lines(&mut self, lines: &[u8], count: usize) -> io::Result<()> {
        // Kept even after a failure, like a single line; written once the buffer is full, so a
        // large batch goes to the file in one write.
        self.buffer.extend_from_slice(lines);
        self.lines += count as u64;
        if self.buffer.len() >= FILE_BUFFER {
            self.write_buffer()
        } else {
            Ok(())
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        self.write_buffer()
    }
    fn name(&self) -> &'static str {
        "file"
    }
    fn take_lost(&mut self) -> u64 {
        std::mem::take(&mut self.lost)
    }
}

impl Drop for FileSink {
    fn drop(&mut self) {
        let _ = self.write_buffer();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_cut_short_by_a_crash_is_ended_before_the_next_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("entries.jsonl");
        std::fs::write(&path, b"{\"a\":1}\n{\"b\":").unwrap();
        let mut sink = FileSink::open(&path).unwrap();
        sink.write_line(b"{\"c\":3}\n").unwrap();
        sink.flush().unwrap();
        drop(sink);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"a\":1}\n{\"b\":\n{\"c\":3}\n");
        // A file that ends well is left alone.
        let mut sink = FileSink::open(&path).unwrap();
        sink.write_line(b"{\"d\":4}\n").unwrap();
        drop(sink);
        assert!(std::fs::read_to_string(&path).unwrap().ends_with("{\"c\":3}\n{\"d\":4}\n"));
    }

    #[test]
    fn lines_a_full_disk_refuses_are_counted_as_lost() {
        let mut sink = FileSink::open(Path::new("/dev/full")).unwrap();
        for _ in 0..3 {
            sink.write_line(b"{}\n").unwrap();
        }
        assert!(sink.flush().is_err());
        assert_eq!(sink.take_lost(), 3);
        assert_eq!(sink.take_lost(), 0, "counted once");
        sink.write_line(b"{}\n").unwrap();
        assert!(sink.flush().is_err());
        assert_eq!(sink.take_lost(), 1);
    }
}
