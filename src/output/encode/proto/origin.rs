//! Where a batch was taken: the header fields that the JSON lines do not
//! carry (host, platform, agent version).

/// Host, platform and agent version written in every batch header.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    /// Host name of the agent.
    pub host: String,
    /// Operating system of the agent (`freebsd`, `linux`).
    pub platform: String,
    /// netpulse version that wrote the batch.
    pub agent_version: String,
}

impl Origin {
    /// This host, this operating system, this build of netpulse.
    pub fn this_host() -> Origin {
        Origin {
            host: host_name(),
            platform: std::env::consts::OS.to_string(),
            agent_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

/// gethostname(3); empty when it fails (the field is then absent rather
/// than the agent refusing to write). The one place the agent asks for it.
pub fn host_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn this_host_matches_the_kernel() {
        let o = Origin::this_host();
        let kernel = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        assert_eq!(o.host, kernel.trim_end());
        assert_eq!(o.platform, "linux");
        assert_eq!(o.agent_version, env!("CARGO_PKG_VERSION"));
    }
}
