//! `/`: the dashboard page. One self-contained HTML file (inline CSS and
//! JS, no external assets) compiled into the binary; it polls
//! `/api/snapshot` and draws the host's TCP health.

/// The page, byte for byte as served.
pub const PAGE: &str = include_str!("dashboard.html");

#[cfg(test)]
mod tests {
    use super::PAGE;

    #[test]
    fn page_loads_nothing_from_elsewhere() {
        for needle in ["http://", "https://", "src=", "<link", "@import", "url("] {
            assert!(!PAGE.contains(needle), "dashboard references {needle}");
        }
        assert!(PAGE.contains("/api/snapshot"));
    }

    #[test]
    fn page_never_injects_html_from_data() {
        // Commands and addresses come from other users' processes: the page
        // only ever sets textContent.
        assert!(!PAGE.contains("innerHTML"));
        assert!(!PAGE.contains("outerHTML"));
        assert!(!PAGE.contains("insertAdjacentHTML"));
    }
}
