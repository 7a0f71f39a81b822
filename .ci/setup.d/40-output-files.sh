# File-sink tests: a real `tail -F` (GNU coreutils) follows rotation, and
# mount(8)/umount(8) make a tiny tmpfs for the full-disk test.
ci_apt coreutils mount
