//! Benchmark of the pipe (issue 16, item 4): a cached `token` from a running `finesse-sso agent
//! run` over its Unix socket, against a bare echo server on the same kind of socket doing the
//! same line framing (the floor), 1, 16 and 256 concurrent clients, interleaved in one run.
//! Also the agent's RSS: idle before a sign-in, idle signed in, and after the crowd left.
//!
//! Usage (bench/all.sh runs it; the agent must be `agent run --lazy`, not signed in yet):
//!   pipe_bench --socket PATH [--rounds 5] [--secs 1] [--clients 1,16,256] [--json FILE]
//!              [--also NAME=PATH]...   more servers in the same rounds (an agent before a change)
//!   pipe_bench --self-test    the measuring itself, echo against echo (no agent needed)
//!   pipe_bench echo SOCKET    (internal) the floor: answers each line with the line on stdin

#[cfg(unix)]
mod unix;

#[cfg(unix)]
fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    unix::main()
}

/// The Windows named pipe is not measured by this benchmark (yet): say so, never pretend.
#[cfg(not(unix))]
fn main() {
    eprintln!("pipe_bench: measures the agent's Unix socket; not available on this platform");
    std::process::exit(2);
}
