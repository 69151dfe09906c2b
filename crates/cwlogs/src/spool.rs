//! The log store's overflow on disk (`logs.spool` in the data directory): when the store's
//! queue is full, the pipeline appends its batches here instead of missing them, and the store's
//! thread reads them back, in order, once the queue is empty. SQLite stores ~100k entries a
//! second on one core; the broker's DEBUG peak writes several times that, in bursts: the spool
//! lets the store catch up after the burst (CloudWatch itself shows entries seconds after they
//! are written) instead of losing them. Only when the spool reaches its size limit
//! (`[logstore] spool_max_mb`) are entries missed, and counted.
//!
//! Format: a 16-byte header (`IOTSPOL1`, then the offset of the first record not yet stored,
//! little-endian u64), then records: line count (u32), byte length (u32), the lines compressed
//! as one LZ4 block (with its size in front; entries shrink about 5x, so the default 1 GB holds
//! some 15 million of them, a minute of the broker's DEBUG peak). The header's
//! offset is rewritten after each transaction of spooled entries, so a spool left by a stop (or a
//! crash: at most one transaction is stored twice) is read on the next start.

use parking_lot::Mutex;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

const MAGIC: &[u8; 8] = b"IOTSPOL2";
const HEADER: u64 = 16;
const RECORD_HEADER: u64 = 8;

/// Batches waiting on disk for the store.
pub struct Spool {
    inner: Mutex<Inner>,
    /// Lines appended and not yet stored: while any wait, new batches go behind them.
    waiting: AtomicUsize,
    max_bytes: u64,
}

struct Inner {
    file: File,
    /// The first record not yet stored (the header's offset).
    read_at: u64,
    /// Where the records taken but not yet committed end.
    taken_to: u64,
    taken_lines: usize,
    write_at: u64,
}

impl Spool {
    /// Opens the spool at `path`, keeping what an earlier run left in it; at most `max_bytes`.
    pub fn open(path: &Path, max_bytes: u64) -> io::Result<Spool> {
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        let len = file.metadata()?.len();
        let mut header = [0u8; HEADER as usize];
        let mut read_at = HEADER;
        let mut waiting = 0usize;
        let mut write_at = HEADER;
        if len >= HEADER && file.read_exact_at(&mut header, 0).is_ok() && &header[..8] == MAGIC {
            read_at = u64::from_le_bytes(header[8..].try_into().expect("8 bytes")).clamp(HEADER, len);
            // Count the complete records left; a record a crash cut short ends the spool.
            write_at = read_at;
            let mut record = [0u8; RECORD_HEADER as usize];
            while write_at + RECORD_HEADER <= len && file.read_exact_at(&mut record, write_at).is_ok() {
                let (count, bytes) = record_header(&record);
                if write_at + RECORD_HEADER + bytes > len {
                    break;
                }
                waiting += count;
                write_at += RECORD_HEADER + bytes;
            }
        }
        if waiting == 0 {
            read_at = HEADER;
            write_at = HEADER;
        }
        file.set_len(write_at)?;
        let spool = Spool {
            inner: Mutex::new(Inner { file, read_at, taken_to: read_at, taken_lines: 0, write_at }),
            waiting: AtomicUsize::new(waiting),
            max_bytes: max_bytes.max(HEADER),
        };
        spool.inner.lock().write_header()?;
        Ok(spool)
    }

    /// Lines waiting to be stored.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }

    /// Appends a batch of `count` lines: `Some(true)` when the spool was empty before (the
    /// store's thread may be asleep on its queue: wake it), `None` when the spool is full or the
    /// disk refuses it.
    pub fn push(&self, lines: &[u8], count: usize) -> Option<bool> {
        // Compressed before the lock: the store's thread is never kept waiting for it.
        let packed = lz4_flex::block::compress_prepend_size(lines);
        let size = RECORD_HEADER + packed.len() as u64;
        let mut inner = self.inner.lock();
        if inner.write_at + size > self.max_bytes
            || count > u32::MAX as usize
            || packed.len() > u32::MAX as usize
        {
            return None;
        }
        let mut record = Vec::with_capacity(size as usize);
        record.extend_from_slice(&(count as u32).to_le_bytes());
        record.extend_from_slice(&(packed.len() as u32).to_le_bytes());
        record.extend_from_slice(&packed);
        if inner.file.write_all_at(&record, inner.write_at).is_err() {
            // Whatever part was written lies beyond write_at and is overwritten by the next push.
            return None;
        }
        inner.write_at += size;
        Some(self.waiting.fetch_add(count, Ordering::Release) == 0)
    }

    /// Reads the oldest records not yet taken, whole, up to about `max_lines` lines (at least
    /// one record): their lines and how many. [`Spool::commit`] marks them stored.
    pub fn take(&self, max_lines: usize) -> Option<(Vec<u8>, usize)> {
        let mut inner = self.inner.lock();
        let mut lines = Vec::new();
        let mut count = 0;
        let mut record = [0u8; RECORD_HEADER as usize];
        let mut packed = Vec::new();
        while inner.taken_to < inner.write_at && (count == 0 || count < max_lines) {
            if inner.file.read_exact_at(&mut record, inner.taken_to).is_err() {
                break;
            }
            let (n, bytes) = record_header(&record);
            packed.resize(bytes as usize, 0);
            if inner.file.read_exact_at(&mut packed, inner.taken_to + RECORD_HEADER).is_err() {
                break;
            }
            // A record that does not decompress (a damaged file) is skipped, its lines lost.
            if let Ok(unpacked) = lz4_flex::block::decompress_size_prepended(&packed) {
                lines.extend_from_slice(&unpacked);
            }
            if !lines.is_empty() && !lines.ends_with(b"\n") {
                lines.push(b'\n');
            }
            count += n;
            inner.taken_to += RECORD_HEADER + bytes;
            inner.taken_lines += n;
        }
        (count > 0).then_some((lines, count))
    }

    /// Marks what [`Spool::take`] returned as stored; an emptied spool starts again at its head.
    pub fn commit(&self) {
        let mut inner = self.inner.lock();
        inner.read_at = inner.taken_to;
        let taken = std::mem::take(&mut inner.taken_lines);
        if inner.read_at >= inner.write_at {
            inner.read_at = HEADER;
            inner.taken_to = HEADER;
            inner.write_at = HEADER;
            let _ = inner.file.set_len(HEADER);
        }
        let _ = inner.write_header();
        self.waiting.fetch_sub(taken, Ordering::Release);
    }
}

impl Inner {
    fn write_header(&self) -> io::Result<()> {
        let mut header = [0u8; HEADER as usize];
        header[..8].copy_from_slice(MAGIC);
        header[8..].copy_from_slice(&self.read_at.to_le_bytes());
        self.file.write_all_at(&header, 0)
    }
}

/// (line count, byte length) of a record header.
fn record_header(record: &[u8; RECORD_HEADER as usize]) -> (usize, u64) {
    let count = u32::from_le_bytes(record[..4].try_into().expect("4 bytes")) as usize;
    let bytes = u32::from_le_bytes(record[4..].try_into().expect("4 bytes")) as u64;
    (count, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_come_back_in_order_and_an_emptied_spool_shrinks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs.spool");
        let spool = Spool::open(&path, 1 << 20).unwrap();
        assert_eq!(spool.push(b"a\nb\n", 2), Some(true));
        assert_eq!(spool.push(b"c\n", 1), Some(false));
        assert_eq!(spool.waiting(), 3);
        let (lines, n) = spool.take(2).unwrap();
        assert_eq!((lines.as_slice(), n), (&b"a\nb\n"[..], 2));
        assert!(spool.push(b"d\n", 1).is_some(), "pushing while a take is uncommitted");
        spool.commit();
        assert_eq!(spool.waiting(), 2);
        let (lines, n) = spool.take(100).unwrap();
        assert_eq!((lines.as_slice(), n), (&b"c\nd\n"[..], 2));
        spool.commit();
        assert_eq!(spool.waiting(), 0);
        assert!(spool.take(100).is_none());
        assert_eq!(std::fs::metadata(&path).unwrap().len(), HEADER);
    }

    #[test]
    fn a_full_spool_refuses_batches() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(&dir.path().join("logs.spool"), HEADER + 30).unwrap();
        assert!(spool.push(b"0123456789\n", 1).is_some());
        assert!(spool.push(b"x\n", 1).is_none(), "the limit counts the header and every record");
        assert_eq!(spool.waiting(), 1);
    }

    #[test]
    fn what_was_not_stored_is_read_again_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs.spool");
        {
            let spool = Spool::open(&path, 1 << 20).unwrap();
            spool.push(b"one\n", 1);
            spool.push(b"two\nthree\n", 2);
            spool.take(1).unwrap();
            spool.commit();
            // A record a crash cut short: its header promises more bytes than the file has.
            let file = OpenOptions::new().append(true).open(&path).unwrap();
            file.write_all_at(&[5, 0, 0, 0, 200, 0, 0, 0, b'x'], std::fs::metadata(&path).unwrap().len())
                .unwrap();
        }
        let spool = Spool::open(&path, 1 << 20).unwrap();
        assert_eq!(spool.waiting(), 2);
        let (lines, n) = spool.take(100).unwrap();
        assert_eq!((lines.as_slice(), n), (&b"two\nthree\n"[..], 2));
        assert!(spool.push(b"four\n", 1).is_some(), "the cut record was dropped and its space reused");
        spool.commit();
        assert_eq!(spool.take(100).unwrap().0, b"four\n");
    }
}
