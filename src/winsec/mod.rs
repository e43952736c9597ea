//! Windows security in one place: SIDs, SDDL and DACL judgements, who serves a pipe. The pure
//! parts build and judge text on every platform (their unit tests run everywhere, Wine enforces
//! no ACL); `sys` makes the Win32 calls, on Windows only.

pub mod dacl;
pub mod pipe_peer;
pub mod sddl;
pub mod sid;
#[cfg(windows)]
pub mod sys;
