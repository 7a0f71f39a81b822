#!/usr/bin/env bash
# The operator's documents speak about the software, not about how the work
# on it was organised. `cargo test --test it ops::operator_docs` checks the
# same and more (field tables, socket paths); this is the literal grep.
set -euo pipefail
cd "$(dirname "$0")/../.."

echo 'grep -rniE "session|issue [0-9]|issue #" README.md docs/ man/'
if grep -rniE "session|issue [0-9]|issue #" README.md docs/ man/; then
    echo "rephrase the lines above" >&2
    exit 1
fi
echo "README.md: $(wc -l < README.md) lines (at most 350)"
[ "$(wc -l < README.md)" -le 350 ]
