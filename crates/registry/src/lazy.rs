//! A cache that a background thread fills at start: the first reader or writer waits for it.
//!
//! 100,000 things take the better part of a second to read and parse; loading them beside the
//! rest of the start (listeners, the other services) lets iotemu answer sooner, and a request
//! that needs the things waits only for what is left of the load.

use parking_lot::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

pub(crate) struct Lazy<T> {
    lock: RwLock<T>,
    ready: AtomicBool,
    pending: Mutex<Option<JoinHandle<Result<T, String>>>>,
}

impl<T: Default + Send + 'static> Lazy<T> {
    /// A cache loaded already.
    pub(crate) fn new(value: T) -> Self {
        Lazy { lock: RwLock::new(value), ready: AtomicBool::new(true), pending: Mutex::new(None) }
    }

    /// A cache `load` fills on a thread of its own (`what` names it in a failure).
    pub(crate) fn spawn(
        what: &'static str,
        load: impl FnOnce() -> Result<T, String> + Send + 'static,
    ) -> std::io::Result<Self> {
        let handle = std::thread::Builder::new().name(format!("iotemu-load-{what}")).spawn(load)?;
        Ok(Lazy {
            lock: RwLock::new(T::default()),
            ready: AtomicBool::new(false),
            pending: Mutex::new(Some(handle)),
        })
    }

    fn wait(&self) {
        if self.ready.load(Ordering::Acquire) {
            return;
        }
        let mut pending = self.pending.lock();
        if let Some(handle) = pending.take() {
            match handle.join() {
                Ok(Ok(value)) => *self.lock.write() = value,
                // The database could not be read: iotemu cannot serve a registry it does not have
                // (the same as failing to start, which an eager load would have done).
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "loading the registry failed");
                    eprintln!("iotemu: loading the registry failed: {e}");
                    std::process::exit(1);
                }
                Err(_) => {
                    eprintln!("iotemu: the registry's loading thread panicked");
                    std::process::exit(1);
                }
            }
        }
        self.ready.store(true, Ordering::Release);
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, T> {
        self.wait();
        self.lock.read()
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, T> {
        self.wait();
        self.lock.write()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn a_reader_waits_for_the_load_and_a_writer_sees_it() {
        let lazy: Lazy<BTreeMap<String, u32>> = Lazy::spawn("test", || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            Ok(BTreeMap::from([("a".to_string(), 1)]))
        })
        .unwrap();
        assert_eq!(lazy.read().get("a"), Some(&1));
        lazy.write().insert("b".into(), 2);
        assert_eq!(lazy.read().len(), 2);
        let loaded = Lazy::new(BTreeMap::from([("c".to_string(), 3)]));
        assert_eq!(loaded.read().get("c"), Some(&3));
    }
}
