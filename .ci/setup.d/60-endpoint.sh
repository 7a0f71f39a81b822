# Endpoint tests: `promtool check metrics` (Debian ships promtool in the
# `prometheus` package; bookworm has no separate prometheus-promtool) and
# headless Chromium for the dashboard test.
ci_apt prometheus chromium nftables
