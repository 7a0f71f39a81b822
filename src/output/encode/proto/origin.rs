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

/// gethostname(3); empty when it fails (the header field is then absent
/// rather than the agent refusing to write).
fn host_name() -> String {
    // POSIX host names are at most 255 bytes; one more keeps a NUL.
    let mut buf = [0u8; 256];
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes and
    // gethostname writes at most that many; we read only up to the first
    // NUL (or the whole buffer if it was truncated without one).
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return String::new();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
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
