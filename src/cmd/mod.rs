//! One file per subcommand.

pub mod check_config;
pub mod decode;
pub mod logging;
pub mod once;
pub mod once_filter;
pub mod replay;
pub mod run;
pub mod subscribe;
