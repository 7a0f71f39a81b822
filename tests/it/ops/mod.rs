mod freebsd_port;
mod limits;
mod man_cli;
mod rcd;
mod sample_config;
mod systemd;
