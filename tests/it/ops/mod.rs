mod config_is_a_leaf;
mod freebsd_port;
mod limits;
mod man_cli;
mod operator_docs;
mod rcd;
mod sample_config;
mod systemd;
