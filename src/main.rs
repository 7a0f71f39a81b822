//! The `netpulse` command: argument parsing and dispatch. Each subcommand
//! lives in `cmd/`.

mod cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use netpulse::config::Format;
use netpulse::platform::SourceKind;

#[derive(Parser, Debug)]
#[command(
    name = "netpulse",
    version,
    about = "Sample every TCP socket on this host"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Config file for `run` when no subcommand is given.
    #[arg(long, global = false)]
    config: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the agent in the foreground (the default).
    Run(RunArgs),
    /// One sample of every tier to stdout, then exit.
    Once(OnceArgs),
    /// Validate a config file; exit 1 naming every problem.
    CheckConfig(CheckConfigArgs),
    /// Parse dumps captured on FreeBSD and print them like `once`.
    Replay(ReplayArgs),
    /// A binary protobuf stream back to JSON lines.
    Decode(DecodeArgs),
    /// Print a fleet's batches from NATS JetStream as JSON lines.
    Subscribe(SubscribeArgs),
}

#[derive(Args, Debug)]
pub struct SubscribeArgs {
    /// Server URL(s), comma-separated: nats://HOST:PORT or tls://HOST:PORT.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    pub url: String,
    /// Subject to read, wildcards allowed.
    #[arg(long, default_value = "netpulse.>")]
    pub subject: String,
    /// Durable consumer name: a restart continues where this one stopped.
    #[arg(long)]
    pub durable: Option<String>,
    /// A .creds file (JWT and NKey seed).
    #[arg(long)]
    pub credentials: Option<PathBuf>,
    /// CA file for the server's certificate (turns TLS on).
    #[arg(long)]
    pub tls_ca: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Config file (default: /usr/local/etc/netpulse.toml if present).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct OnceArgs {
    /// Output format [default: table when stdout is a terminal, json otherwise].
    #[arg(long, value_enum)]
    pub format: Option<OnceFormat>,
    /// Socket source.
    #[arg(long, value_enum, default_value_t = SourceKind::Auto)]
    pub source: SourceKind,
    /// Only sockets in this TCP state (repeatable; `established`, `listen`, `time-wait`, ...).
    #[arg(long, value_name = "NAME", value_parser = cmd::once_filter::parse_state)]
    pub state: Vec<netpulse::record::TcpState>,
    /// Only sockets with this port at either end (repeatable).
    #[arg(long, value_name = "N")]
    pub port: Vec<u16>,
    /// Only sockets with this local port (repeatable).
    #[arg(long, visible_alias = "local-port", value_name = "N")]
    pub sport: Vec<u16>,
    /// Only sockets with this remote port (repeatable).
    #[arg(long, visible_alias = "remote-port", value_name = "N")]
    pub dport: Vec<u16>,
    /// Only sockets whose local address is in ADDR[/PREFIX] (repeatable).
    #[arg(long, value_name = "ADDR[/PREFIX]", value_parser = cmd::once_filter::parse_addr_prefix)]
    pub local: Vec<cmd::once_filter::AddrPrefix>,
    /// Only sockets whose remote address is in ADDR[/PREFIX] (repeatable).
    #[arg(long, value_name = "ADDR[/PREFIX]", value_parser = cmd::once_filter::parse_addr_prefix)]
    pub remote: Vec<cmd::once_filter::AddrPrefix>,
    /// Only sockets owned by this process id (repeatable).
    #[arg(long, value_name = "N")]
    pub pid: Vec<u32>,
    /// Only sockets owned by a process with this command name (repeatable).
    #[arg(long, value_name = "NAME", value_parser = cmd::once_filter::parse_command)]
    pub command: Vec<String>,
    /// Only IPv4 sockets.
    #[arg(short = '4', long = "ipv4", conflicts_with = "ipv6")]
    pub ipv4: bool,
    /// Only IPv6 sockets.
    #[arg(short = '6', long = "ipv6")]
    pub ipv6: bool,
    /// Apply the `[filter]` section of this config file as well.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// What `once` writes: the file formats, or a table for people.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OnceFormat {
    Json,
    Csv,
    Proto,
    Table,
}

#[derive(Args, Debug)]
pub struct CheckConfigArgs {
    pub file: PathBuf,
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("sockets").required(true).args(["pcblist", "tcpstats_dev", "pcblist_n"])))]
pub struct ReplayArgs {
    /// `sysctl -b net.inet.tcp.pcblist` output.
    #[arg(long)]
    pub pcblist: Option<PathBuf>,
    /// `cat /dev/tcpstats` output.
    #[arg(long)]
    pub tcpstats_dev: Option<PathBuf>,
    /// macOS: `sysctl -b net.inet.tcp.pcblist_n` output (with --tcp-stats
    /// from the same Mac, if given).
    #[arg(long)]
    pub pcblist_n: Option<PathBuf>,
    /// `sysctl -b kern.file` output (process attribution).
    #[arg(long)]
    pub kern_file: Option<PathBuf>,
    /// `sysctl -b kern.proc.all` output (command names).
    #[arg(long)]
    pub kern_proc: Option<PathBuf>,
    /// `sysctl -b net.inet.tcp.stats` output.
    #[arg(long)]
    pub tcp_stats: Option<PathBuf>,
    /// `sysctl -b net.inet.tcp.states` output.
    #[arg(long)]
    pub tcp_states: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,
}

#[derive(Args, Debug)]
pub struct DecodeArgs {
    pub file: PathBuf,
}

fn main() -> ExitCode {
    netpulse::platform::keep_heap_compact();
    let cli = Cli::parse();
    let result = match cli.command {
        None => cmd::run::main(RunArgs { config: cli.config }),
        Some(Command::Run(a)) => cmd::run::main(a),
        Some(Command::Once(a)) => cmd::once::main(a),
        Some(Command::CheckConfig(a)) => cmd::check_config::main(a),
        Some(Command::Replay(a)) => cmd::replay::main(a),
        Some(Command::Decode(a)) => cmd::decode::main(a),
        Some(Command::Subscribe(a)) => cmd::subscribe::main(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("netpulse: {e:#}");
            ExitCode::from(1)
        }
    }
}
