# Compressed rotation tests read the agent's .zst and .gz files back with
# the standard tools, and benches/output_volume.sh sizes with zstd -3.
ci_apt zstd gzip
