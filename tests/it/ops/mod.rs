mod limits;
mod man_cli;
mod rcd;
mod sample_config;
