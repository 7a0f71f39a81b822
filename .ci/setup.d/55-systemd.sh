# systemd-analyze (package systemd) checks etc/systemd/netpulse.service in
# tests/ops_systemd.rs; man-db lets it resolve the unit's man: links.
ci_apt systemd man-db
