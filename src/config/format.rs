//! Output format (`format` of an `[[output]]`, `--format`) and the active
//! file names each one writes, so the config can find two outputs writing
//! the same file without building their encoders.

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, clap::ValueEnum)]
pub enum Format {
    #[default]
    Json,
    Csv,
    Proto,
}

impl Format {
    pub fn from_name(s: &str) -> Option<Format> {
        match s {
            "json" => Some(Format::Json),
            "csv" => Some(Format::Csv),
            "proto" => Some(Format::Proto),
            _ => None,
        }
    }

    /// The active file of each stream, in the encoder's stream order.
    pub fn active_file_names(self, prefix: &str) -> Vec<String> {
        match self {
            Format::Json => vec![format!("{prefix}.jsonl")],
            Format::Csv => vec![
                format!("{prefix}-system.csv"),
                format!("{prefix}-socket.csv"),
                format!("{prefix}-close.csv"),
            ],
            Format::Proto => vec![format!("{prefix}.pb")],
        }
    }
}
