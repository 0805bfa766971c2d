//! A pseudo-terminal for a terminal session: Haven keeps the master side and reads and writes it
//! without blocking a thread (through tokio's pipe types, which take any pollable descriptor);
//! the sandbox gets the other side as its standard input, output and error. Made with rustix's
//! safe calls (no `unsafe` here, and none of a PTY crate's fork-and-exec: the runner starts the
//! program).

use std::io;
use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{Mode, OFlags};
use rustix::pty::OpenptFlags;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;

/// What the program writes.
pub struct PtyOutput(pipe::Receiver);

/// Where keystrokes go, and the window's size.
pub struct PtyInput(tokio::sync::Mutex<pipe::Sender>);

/// A new pair: the master, non-blocking, kept here (output and input); the terminal side, to
/// hand to the program (opened without becoming this process's controlling terminal).
pub fn open() -> io::Result<(PtyOutput, PtyInput, OwnedFd)> {
    let master = rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
    rustix::pty::grantpt(&master)?;
    rustix::pty::unlockpt(&master)?;
    let name = rustix::pty::ptsname(&master, Vec::new())?;
    let terminal = rustix::fs::open(name.as_c_str(), OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC, Mode::empty())?;
    let flags = rustix::fs::fcntl_getfl(&master)?;
    rustix::fs::fcntl_setfl(&master, flags | OFlags::NONBLOCK)?;
    let output = pipe::Receiver::from_owned_fd_unchecked(master.try_clone()?)?;
    let input = pipe::Sender::from_owned_fd_unchecked(master)?;
    Ok((PtyOutput(output), PtyInput(tokio::sync::Mutex::new(input)), terminal))
}

impl PtyOutput {
    /// The next bytes the program wrote; `Ok(0)` once every copy of the terminal side is
    /// closed (the program and all it started have ended).
    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.0.read(buf).await {
            // Linux answers EIO on the master once the other side has no holders left.
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::IO.raw_os_error()) => Ok(0),
            other => other,
        }
    }
}

impl PtyInput {
    /// Writes all of `data` (keystrokes, a paste) to the program.
    pub async fn write_all(&self, data: &[u8]) -> io::Result<()> {
        self.0.lock().await.write_all(data).await
    }

    /// Tells the program its window's size (it gets SIGWINCH).
    pub async fn resize(&self, cols: u16, rows: u16) -> io::Result<()> {
        let size = rustix::termios::Winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
        let sender = self.0.lock().await;
        Ok(rustix::termios::tcsetwinsize(sender.as_fd(), size)?)
    }
}
