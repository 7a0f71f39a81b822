# Shared helpers for .ci scripts (sourced, not run).

# Install Debian packages, running `apt-get update` at most once per CI run.
ci_apt() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ ! -e /tmp/.netpulse-apt-updated ]; then
        apt-get update -qq && touch /tmp/.netpulse-apt-updated
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ci_step() {
    printf '\n=== %s (%s)\n' "$1" "$(date +%T)"
}
