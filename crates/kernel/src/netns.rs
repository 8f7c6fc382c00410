//! Network namespaces: run a closure with a thread inside another namespace. Sockets
//! opened there stay bound to that namespace, which is how one process (a test, or a
//! daemon managing several namespaces) talks to more than one kernel network stack.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

use crate::error::{KernelError, Op};

/// Runs `f` on a fresh thread that has entered the network namespace at `path`
/// (e.g. `/run/netns/west`, or `/proc/<pid>/ns/net`) and returns its result.
pub fn run_in<T: Send>(path: &Path, f: impl FnOnce() -> T + Send) -> Result<T, KernelError> {
    let file = File::open(path).map_err(|e| KernelError::Io {
        op: Op::Netns,
        source: io::Error::new(e.kind(), format!("{}: {e}", path.display())),
    })?;
    std::thread::scope(|s| {
        let handle = s.spawn(move || {
            // SAFETY: setns on a valid namespace descriptor affects only this thread.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            if rc < 0 {
                return Err(KernelError::Io {
                    op: Op::Netns,
                    source: io::Error::last_os_error(),
                });
            }
            Ok(f())
        });
        match handle.join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}
