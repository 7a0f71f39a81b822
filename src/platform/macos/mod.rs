//! macOS: parsers for libproc and sysctl bytes (plain Rust over `&[u8]`,
//! built and tested everywhere), the replay source over captured
//! `net.inet.tcp.pcblist_n` dumps, and the live source (macOS only).
//!
//! Data flow on a Mac: `sysctl net.inet.tcp.pcblist_n` → `pcblist_n` →
//! every TCP socket with cwnd, RTT and buffers; libproc (`proc_listpids`,
//! `PROC_PIDLISTFDS`, `PROC_PIDFDSOCKETINFO`, `PROC_PIDTBSDINFO`) →
//! `fdinfo` / `bsdinfo` → which process holds which socket, joined on the
//! pcb generation count both report. Every offset comes from `layout`.

pub mod bsdinfo;
pub mod fdinfo;
pub mod layout;
pub mod owners;
pub mod pcblist_n;
pub mod replay;
pub mod tcpstat;

#[cfg(target_os = "macos")]
mod libproc;
#[cfg(target_os = "macos")]
mod live;

#[cfg(target_os = "macos")]
pub use live::MacSource;
pub use replay::{MacReplayInputs, MacReplaySource};
