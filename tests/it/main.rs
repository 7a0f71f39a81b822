//! The integration tests, one binary: each directory is one part of the
//! agent, `support/` what they share. Tests that measure or change state
//! of the whole test process (its memory, its umask) are binaries of their
//! own beside this one.

mod support;

mod daemon;
mod endpoint;
mod freebsd;
mod linux;
mod macos;
mod nats;
mod ops;
mod output;
