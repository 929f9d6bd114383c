# Sourced by demo.sh and setup.sh: installs the Debian/Ubuntu packages named
# that are not installed yet (apt, with sudo when not root).
# install_packages WHO PACKAGE...   (WHO names the script in its message)
install_packages() {
    local who=$1 missing="" p sudo=""
    shift
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
    done
    [ -n "$missing" ] || return 0
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "$who: installing system packages:$missing" >&2
    $sudo apt-get update -qq
    # shellcheck disable=SC2086  # one word per package
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
}
