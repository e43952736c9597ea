//! The answer channel: a pipe only the window process holds, both ends of it. WebKit's helper
//! processes inherit the window's stdio (and every descriptor not marked close-on-exec), so the
//! answer never travels on stdout: a compromised renderer could print an outcome line there.
//!
//! Unix: the parent makes a pipe and gives the child its write end as fd 3, named in
//! [`ANSWER_ENV`]; the window's very first act is to mark it close-on-exec, before GTK or WebKit
//! start, so no helper ever inherits it. A second pipe, fd 4, is left for the helpers to inherit on
//! purpose: it carries nothing, and its end-of-file tells the parent they are all gone.
//! Windows: an anonymous pipe whose write handle is inheritable only for the spawn, named in
//! [`ANSWER_ENV`]; the window makes it non-inheritable at once (WebView2's browser process is
//! started by the runtime from inside the window, after that).

use std::fs::File;
use std::io;

use tokio::io::{AsyncRead, AsyncReadExt};

use super::wire::{MAX_LINE, WindowOutcome};

/// Names the answer channel's write end in the window (a descriptor number or a handle value).
pub const ANSWER_ENV: &str = "FINESSE_SSO_ANSWER_FD";

/// Why no outcome came out of the channel.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadError {
    /// It closed before a whole line (the window died or never answered).
    Closed,
    /// More than [`MAX_LINE`] bytes without a line end: read no further.
    TooLong,
    /// A line that is not a valid outcome.
    Unreadable,
    Io(io::ErrorKind),
}

/// Reads the one outcome line, never holding more than [`MAX_LINE`] bytes of it.
pub async fn read_outcome<R: AsyncRead + Unpin>(mut r: R) -> Result<WindowOutcome, ReadError> {
    let mut line = Vec::with_capacity(8 * 1024);
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let room = (MAX_LINE + 1 - line.len()).min(chunk.len());
        let n = r
            .read(&mut chunk[..room])
            .await
            .map_err(|e| ReadError::Io(e.kind()))?;
        if n == 0 {
            return Err(ReadError::Closed);
        }
        if let Some(end) = chunk[..n].iter().position(|&b| b == b'\n') {
            line.extend_from_slice(&chunk[..end]);
            let text = std::str::from_utf8(&line).map_err(|_| ReadError::Unreadable)?;
            return WindowOutcome::from_line(text).ok_or(ReadError::Unreadable);
        }
        line.extend_from_slice(&chunk[..n]);
        if line.len() > MAX_LINE {
            return Err(ReadError::TooLong);
        }
    }
}

/// The window's side: takes the channel [`ANSWER_ENV`] names and makes sure no process started
/// from here inherits it. Call first thing in `main`, before any thread or toolkit starts.
/// `None` when the variable is absent or names no open descriptor (not started by finesse-sso).
pub fn take_answer_channel() -> Option<File> {
    let value = std::env::var(ANSWER_ENV).ok()?;
    imp::take(&value)
}

/// Writes the one outcome line on the channel.
pub fn write_outcome(channel: &mut File, outcome: &WindowOutcome) -> io::Result<()> {
    use std::io::Write;
    let mut line = outcome.to_line();
    line.push('\n');
    channel.write_all(line.as_bytes())?;
    channel.flush()
}

#[cfg(unix)]
pub use imp::{Ends, Pipes};

#[cfg(unix)]
mod imp {
    use std::fs::File;
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

    use tokio::net::unix::pipe::Receiver;

    /// The descriptor numbers the pipes' write ends get in the window.
    const CHILD_ANSWER_FD: RawFd = 3;
    const CHILD_LIFE_FD: RawFd = 4;
    /// The parent keeps the child's ends at or above this, so the moves onto 3 and 4 in the
    /// child never overwrite each other.
    const HIGH_FD: RawFd = 10;

    /// Both pipes, before the spawn.
    pub struct Pipes {
        answer: OwnedFd,
        life: OwnedFd,
        child_answer: OwnedFd,
        child_life: OwnedFd,
    }

    /// The parent's read ends, after the spawn.
    pub struct Ends {
        /// The window's one answer.
        pub answer: Receiver,
        /// Never written to; end-of-file once the window and every helper it started are gone.
        pub life: Receiver,
    }

    impl Pipes {
        pub fn new() -> io::Result<Pipes> {
            let (answer, child_answer) = pipe()?;
            let (life, child_life) = pipe()?;
            Ok(Pipes {
                answer,
                life,
                child_answer: high(child_answer)?,
                child_life: high(child_life)?,
            })
        }

        /// Hands the write ends to the child as fds 3 and 4 (not close-on-exec there).
        pub fn configure(&self, cmd: &mut tokio::process::Command) {
            let (a, l) = (self.child_answer.as_raw_fd(), self.child_life.as_raw_fd());
            cmd.env(super::ANSWER_ENV, CHILD_ANSWER_FD.to_string());
            // SAFETY: dup2 is async-signal-safe; it runs in the forked child before exec, and
            // clears close-on-exec on the new descriptor (a and l are >= HIGH_FD, never 3 or 4).
            unsafe {
                cmd.pre_exec(move || {
                    for (from, to) in [(a, CHILD_ANSWER_FD), (l, CHILD_LIFE_FD)] {
                        if libc::dup2(from, to) < 0 {
                            return Err(io::Error::last_os_error());
                        }
                    }
                    Ok(())
                });
            }
        }

        /// After the spawn: drops our copies of the write ends (so the pipes close when the
        /// window and its helpers are gone) and returns the read ends.
        pub fn into_ends(self) -> io::Result<Ends> {
            drop((self.child_answer, self.child_life));
            Ok(Ends {
                answer: Receiver::from_owned_fd(self.answer)?,
                life: Receiver::from_owned_fd(self.life)?,
            })
        }
    }

    /// Both ends close-on-exec (std makes them so on every Unix), so no other child of ours
    /// inherits them.
    fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
        let (r, w) = io::pipe()?;
        Ok((r.into(), w.into()))
    }

    fn high(fd: OwnedFd) -> io::Result<OwnedFd> {
        // SAFETY: duplicating a descriptor we own; the copy is close-on-exec like the original.
        let dup = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, HIGH_FD) };
        if dup < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fcntl returned a fresh descriptor we own.
        Ok(unsafe { OwnedFd::from_raw_fd(dup) })
    }

    pub fn take(value: &str) -> Option<File> {
        let fd: RawFd = value.trim().parse().ok().filter(|fd| *fd > 2)?;
        // SAFETY: F_SETFD on a descriptor number; fails harmlessly when it is not open.
        if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } < 0 {
            return None;
        }
        // Only a pipe: a stray variable naming some other file is not our parent's channel.
        // SAFETY: fstat fills the zeroed struct for an open descriptor.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: as above: `st` is valid to fill, `fd` is a descriptor number (EBADF if closed).
        if unsafe { libc::fstat(fd, &mut st) } < 0 || st.st_mode & libc::S_IFMT != libc::S_IFIFO {
            return None;
        }
        // SAFETY: the parent gave this descriptor to us alone; nothing else in this process
        // owns it.
        Some(unsafe { File::from_raw_fd(fd) })
    }
}

#[cfg(windows)]
pub use imp::{Ends, Pipes};

#[cfg(windows)]
mod imp {
    use std::fs::File;
    use std::io;
    use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle, RawHandle};

    use windows_sys::Win32::Foundation::{HANDLE, HANDLE_FLAG_INHERIT, SetHandleInformation};
    use windows_sys::Win32::Security::SECURITY_ATTRIBUTES;
    use windows_sys::Win32::System::Pipes::CreatePipe;

    /// The pipe, before the spawn.
    pub struct Pipes {
        answer: OwnedHandle,
        child_answer: OwnedHandle,
    }

    /// The parent's read end, after the spawn (anonymous pipes have no overlapped I/O: tokio
    /// reads it on its blocking pool).
    pub struct Ends {
        pub answer: tokio::fs::File,
    }

    impl Pipes {
        pub fn new() -> io::Result<Pipes> {
            let (mut read, mut write): (HANDLE, HANDLE) =
                (std::ptr::null_mut(), std::ptr::null_mut());
            let sa = SECURITY_ATTRIBUTES {
                nLength: size_of::<SECURITY_ATTRIBUTES>() as u32,
                lpSecurityDescriptor: std::ptr::null_mut(),
                bInheritHandle: 1,
            };
            // SAFETY: out-pointers to two handles and a valid SECURITY_ATTRIBUTES.
            if unsafe { CreatePipe(&mut read, &mut write, &sa, 0) } == 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: CreatePipe succeeded: both are fresh handles we own.
            let (answer, child_answer) = unsafe {
                (
                    OwnedHandle::from_raw_handle(read as RawHandle),
                    OwnedHandle::from_raw_handle(write as RawHandle),
                )
            };
            // Only the write end goes to the child. (A process another thread of ours starts
            // before the spawn below also inherits the write end: this program spawns nothing
            // else while a window starts.)
            // SAFETY: clearing a flag on a handle we own.
            if unsafe {
                SetHandleInformation(answer.as_raw_handle() as HANDLE, HANDLE_FLAG_INHERIT, 0)
            } == 0
            {
                return Err(io::Error::last_os_error());
            }
            Ok(Pipes {
                answer,
                child_answer,
            })
        }

        pub fn configure(&self, cmd: &mut tokio::process::Command) {
            let value = self.child_answer.as_raw_handle() as usize;
            cmd.env(super::ANSWER_ENV, value.to_string());
        }

        pub fn into_ends(self) -> io::Result<Ends> {
            drop(self.child_answer);
            Ok(Ends {
                answer: tokio::fs::File::from_std(File::from(self.answer)),
            })
        }
    }

    pub fn take(value: &str) -> Option<File> {
        let handle = value.trim().parse::<usize>().ok().filter(|h| *h != 0)? as HANDLE;
        // SAFETY: clearing the inherit flag fails harmlessly on a value that is no handle.
        if unsafe { SetHandleInformation(handle, HANDLE_FLAG_INHERIT, 0) } == 0 {
            return None;
        }
        // SAFETY: the parent gave this handle to us alone; nothing else here owns it.
        Some(unsafe { File::from_raw_handle(handle as RawHandle) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn reads_one_outcome_line() {
        let line = WindowOutcome::error(ErrorKind::TimedOut, "no token").to_line() + "\nrest";
        let o = read_outcome(line.as_bytes()).await.unwrap();
        assert_eq!(
            o.to_line(),
            WindowOutcome::error(ErrorKind::TimedOut, "no token").to_line()
        );
    }

    #[tokio::test]
    async fn a_line_that_is_no_outcome_is_refused() {
        assert_eq!(
            read_outcome(&b"{\"status\":\"ok\"}\n"[..])
                .await
                .unwrap_err(),
            ReadError::Unreadable
        );
        assert_eq!(
            read_outcome(&b"\xff\n"[..]).await.unwrap_err(),
            ReadError::Unreadable
        );
        assert_eq!(
            read_outcome(&b"{\"status\""[..]).await.unwrap_err(),
            ReadError::Closed
        );
    }

    #[tokio::test]
    async fn an_endless_line_stops_at_the_limit_unbuffered() {
        // The writer never ends its line nor closes: the reader must give up at the limit
        // after reading just past it, not wait for more or hold it all.
        let (mut w, r) = tokio::io::duplex(64 * 1024);
        let writer = tokio::spawn(async move {
            let chunk = vec![b'x'; 64 * 1024];
            let mut sent = 0usize;
            while w.write_all(&chunk).await.is_ok() {
                sent += chunk.len();
            }
            sent
        });
        let got = tokio::time::timeout(std::time::Duration::from_secs(10), read_outcome(r))
            .await
            .expect("the reader stops by itself");
        assert_eq!(got.unwrap_err(), ReadError::TooLong);
        let sent = writer.await.unwrap();
        assert!(
            sent <= MAX_LINE + 3 * 64 * 1024,
            "read {sent} bytes for a limit of {MAX_LINE}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn the_window_marks_its_end_close_on_exec() {
        use std::os::fd::{AsRawFd, IntoRawFd};
        let (r, w) = io::pipe().unwrap();
        let fd = w.into_raw_fd(); // as the child gets it: not close-on-exec
        // SAFETY: reading the flags of a descriptor this test owns.
        unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
        let mut f = imp::take(&fd.to_string()).expect("an open descriptor");
        // SAFETY: as above.
        let flags = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GETFD) };
        assert_eq!(flags & libc::FD_CLOEXEC, libc::FD_CLOEXEC);
        write_outcome(&mut f, &WindowOutcome::error(ErrorKind::Cancelled, "x")).unwrap();
        drop(f);
        let mut got = String::new();
        io::Read::read_to_string(&mut { r }, &mut got).unwrap();
        assert_eq!(
            got,
            WindowOutcome::error(ErrorKind::Cancelled, "x").to_line() + "\n"
        );
        assert!(imp::take("0").is_none(), "stdio is never the channel");
        assert!(imp::take("not a number").is_none());
    }
}
