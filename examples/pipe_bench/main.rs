//! Benchmark of the pipe (issue 16, item 4): a cached `token` from a running `finesse-sso agent
//! run` over its pipe (the Unix socket, or the Windows named pipe), against a bare echo server on
//! the same kind of pipe doing the same line framing (the floor), 1, 16 and 256 concurrent
//! clients, interleaved in one run. Also the agent's memory (RSS on Unix, the working set on
//! Windows): idle before a sign-in, idle signed in, and after the crowd left.
//!
//! Usage (bench/all.sh runs it on Linux, bench/wine-pipe.sh under Wine; the agent must be
//! `agent run --lazy`, not signed in yet):
//!   pipe_bench --socket PATH [--rounds 5] [--secs 1] [--clients 1,16,256] [--json FILE]
//!              [--also NAME=PATH]...   more servers in the same rounds (an agent before a change)
//!   pipe_bench --self-test    the measuring itself, echo against echo (no agent needed)
//!   pipe_bench echo PATH      (internal) the floor: answers each line with the line on stdin
//! On Windows PATH is the pipe's name (`\\.\pipe\finesse-sso-<SID>-<session>-<profile>`).

#[cfg(any(unix, windows))]
mod measure;
#[cfg(unix)]
mod unix;
#[cfg(unix)]
use unix as platform;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows as platform;

#[cfg(any(unix, windows))]
fn main() -> Result<(), measure::Fail> {
    measure::main()
}

/// Neither a Unix socket nor a named pipe: say so, never pretend.
#[cfg(not(any(unix, windows)))]
fn main() {
    eprintln!("pipe_bench: measures the agent's Unix socket or named pipe; not on this platform");
    std::process::exit(2);
}
