//! Prompting on the controlling terminal for XAUTH credentials.

use std::io::{BufRead, BufReader, Write};

/// Prompts on /dev/tty and reads one line; with `echo` false, terminal echo is
/// switched off while the line is typed (and restored even if reading fails).
/// Returns `None` when there is no terminal.
pub fn prompt(text: &str, echo: bool) -> Option<String> {
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .ok()?;
    let mut out = tty.try_clone().ok()?;
    let _ = write!(out, "{text} ");
    let _ = out.flush();
    let guard = if echo { None } else { EchoOff::new(&tty) };
    let mut line = String::new();
    let r = BufReader::new(&tty).read_line(&mut line);
    drop(guard);
    if !echo {
        let _ = writeln!(out);
    }
    r.ok()?;
    while line.ends_with('\n') || line.ends_with('\r') {
        line.pop();
    }
    Some(line)
}

/// Terminal echo switched off for as long as this lives.
struct EchoOff {
    fd: libc::c_int,
    saved: libc::termios,
}

impl EchoOff {
    fn new(tty: &std::fs::File) -> Option<EchoOff> {
        use std::os::fd::AsRawFd;
        let fd = tty.as_raw_fd();
        // SAFETY: termios is plain data; tcgetattr fills it for a valid fd.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: fd is open for the lifetime of `tty`, which outlives the guard.
        if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
            return None;
        }
        let mut quiet = saved;
        quiet.c_lflag &= !(libc::ECHO | libc::ECHOE | libc::ECHOK | libc::ECHONL);
        // SAFETY: as above; quiet is a valid termios derived from the current one.
        if unsafe { libc::tcsetattr(fd, libc::TCSAFLUSH, &quiet) } != 0 {
            return None;
        }
        Some(EchoOff { fd, saved })
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        // SAFETY: restores the attributes saved from the same fd.
        unsafe {
            libc::tcsetattr(self.fd, libc::TCSAFLUSH, &self.saved);
        }
    }
}
