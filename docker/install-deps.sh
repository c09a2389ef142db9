#!/bin/sh
# install-deps.sh LIST... — installs the Debian packages named in the given
# list files that are not installed yet. Uses sudo when not root. Prints
# nothing and exits 0 when everything is already there.
set -eu
missing=""
for list in "$@"; do
	for pkg in $(grep -v '^[[:space:]]*#' "$list"); do
		if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
			missing="$missing $pkg"
		fi
	done
done
[ -z "$missing" ] && exit 0
echo "install-deps: installing:$missing" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
