//! The window's whole process tree, so that a timeout, a cancel or an answer ends everything the
//! window started: on Unix the process group the child leads (the window and WebKit's helpers);
//! on Windows a job object the child joins before it is told anything, which WebView2's
//! `msedgewebview2.exe` processes then join as they start.

#[cfg(windows)]
use std::time::Duration;

use tokio::process::{Child, Command};

/// The processes of one window.
pub struct Tree {
    /// The group's id, until the child is reaped: from then on the id is free for reuse by
    /// another process group (another sign-in's window), and must not be signalled.
    #[cfg(unix)]
    pid: Option<u32>,
    /// Closing it ends every process in it (`JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE`), so even a
    /// parent that dies takes the window's tree with it.
    #[cfg(windows)]
    job: Option<job::Job>,
}

impl Tree {
    /// Before the spawn.
    pub fn prepare(cmd: &mut Command) {
        #[cfg(unix)]
        cmd.process_group(0);
        #[cfg(not(unix))]
        let _ = cmd;
    }

    /// Right after the spawn, before the child reads its request: it starts no process of its
    /// own until then, so nothing it starts escapes the tree.
    #[cfg(unix)]
    pub fn adopt(child: &Child) -> Tree {
        Tree { pid: child.id() }
    }

    /// Right after the spawn, before the child reads its request: it starts no process of its
    /// own until then, so nothing it starts escapes the tree.
    #[cfg(windows)]
    pub fn adopt(child: &Child) -> Tree {
        let job = match child.raw_handle().map(job::Job::for_child) {
            Some(Ok(j)) => Some(j),
            Some(Err(e)) => {
                // The window still works; only a wedged engine could outlive it.
                tracing::warn!("the window's processes have no job object: {e}");
                None
            }
            None => None,
        };
        Tree { job }
    }

    /// Ends every process of the tree.
    pub fn end(&self) {
        #[cfg(unix)]
        if let Some(pid) = self.pid.and_then(|p| i32::try_from(p).ok()) {
            // SAFETY: signalling our own child's process group.
            unsafe {
                libc::kill(-pid, libc::SIGTERM);
            }
        }
        #[cfg(windows)]
        if let Some(job) = &self.job {
            job.terminate();
        }
    }

    /// The child was reaped: its id may now name another group (Unix). A job stays ours.
    pub fn reaped(&mut self) {
        #[cfg(unix)]
        {
            self.pid = None;
        }
    }

    /// After [`Tree::end`], waits (bounded) until the job's processes are gone: WebView2's
    /// helpers hold the profile's files while they wind down. (Unix callers watch the life pipe.)
    #[cfg(windows)]
    pub async fn gone(&self, within: Duration) {
        if let Some(job) = &self.job {
            let deadline = tokio::time::Instant::now() + within;
            while job.active().is_some_and(|n| n > 0) && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

#[cfg(windows)]
mod job {
    use std::io;
    use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle, RawHandle};

    use windows_sys::Win32::Foundation::HANDLE;
    use windows_sys::Win32::System::JobObjects::{
        AssignProcessToJobObject, CreateJobObjectW, JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
        JOBOBJECT_BASIC_ACCOUNTING_INFORMATION, JOBOBJECT_EXTENDED_LIMIT_INFORMATION,
        JobObjectBasicAccountingInformation, JobObjectExtendedLimitInformation,
        QueryInformationJobObject, SetInformationJobObject, TerminateJobObject,
    };

    /// Exit code of processes the job ends (what `taskkill /f` gives too).
    const ENDED: u32 = 1;

    /// A job object no other process holds a handle to (not inheritable).
    pub struct Job(OwnedHandle);

    impl Job {
        /// A kill-on-close job holding `child`.
        pub fn for_child(child: RawHandle) -> io::Result<Job> {
            // SAFETY: no name, default security: a fresh unnamed job, not inheritable.
            let h = unsafe { CreateJobObjectW(std::ptr::null(), std::ptr::null()) };
            if h.is_null() {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: CreateJobObjectW succeeded: a handle we own.
            let job = Job(unsafe { OwnedHandle::from_raw_handle(h as RawHandle) });
            // SAFETY: a zeroed limit struct is its documented empty value.
            let mut limits: JOBOBJECT_EXTENDED_LIMIT_INFORMATION = unsafe { std::mem::zeroed() };
            limits.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
            // SAFETY: the class matches the struct passed, with its exact size.
            let ok = unsafe {
                SetInformationJobObject(
                    job.raw(),
                    JobObjectExtendedLimitInformation,
                    (&raw const limits).cast(),
                    size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>() as u32,
                )
            };
            if ok == 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: both are live handles: the job ours, the process our running child's.
            if unsafe { AssignProcessToJobObject(job.raw(), child as HANDLE) } == 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(job)
        }

        fn raw(&self) -> HANDLE {
            self.0.as_raw_handle() as HANDLE
        }

        pub fn terminate(&self) {
            // SAFETY: a live job handle we own.
            if unsafe { TerminateJobObject(self.raw(), ENDED) } == 0 {
                tracing::debug!(
                    "ending the window's job failed: {}",
                    io::Error::last_os_error()
                );
            }
        }

        /// How many processes are still in the job (`None`: the count cannot be had).
        pub fn active(&self) -> Option<u32> {
            // SAFETY: a zeroed accounting struct is a valid out-buffer.
            let mut info: JOBOBJECT_BASIC_ACCOUNTING_INFORMATION = unsafe { std::mem::zeroed() };
            // SAFETY: the class matches the buffer passed, with its exact size.
            let ok = unsafe {
                QueryInformationJobObject(
                    self.raw(),
                    JobObjectBasicAccountingInformation,
                    (&raw mut info).cast(),
                    size_of::<JOBOBJECT_BASIC_ACCOUNTING_INFORMATION>() as u32,
                    std::ptr::null_mut(),
                )
            };
            (ok != 0).then_some(info.ActiveProcesses)
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use std::os::windows::io::AsRawHandle;
        use std::time::{Duration, Instant};

        /// Needs a Windows (or Wine) with job objects: every process of the job ends with it,
        /// one its member starts after joining too (as the window starts WebView2's).
        #[test]
        fn terminating_the_job_ends_its_processes() {
            use std::io::Write;
            // The child starts its own child only once told to (a line on stdin), as the window
            // starts WebView2 only once it has its request; both then wait on the stdin pipe we
            // hold open (no timer, no network).
            let mut child = std::process::Command::new("cmd")
                .args(["/c", "set /p first= & cmd /c set /p second="])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("cmd starts");
            let job = Job::for_child(child.as_raw_handle()).expect("job");
            let mut stdin = child.stdin.take().expect("stdin");
            stdin.write_all(b"go\r\n").expect("write");
            stdin.flush().expect("flush");
            // Generous: Wine starts each `cmd` through wineserver, seconds apart on a loaded
            // machine; the loop ends as soon as the condition holds.
            let deadline = Instant::now() + Duration::from_secs(60);
            while job.active().is_none_or(|n| n < 2) {
                assert!(
                    Instant::now() < deadline,
                    "the grandchild never joined the job"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
            job.terminate();
            let deadline = Instant::now() + Duration::from_secs(60);
            while job.active().is_some_and(|n| n > 0) {
                assert!(Instant::now() < deadline, "the job's processes outlived it");
                std::thread::sleep(Duration::from_millis(10));
            }
            assert_eq!(child.wait().expect("reaped").code(), Some(ENDED as i32));
            drop(stdin);
        }
    }
}
