#!/usr/bin/env bash
# deploy/deps.sh [--test] [--demo] [--quiet-if-present]
#
# Installs the Debian packages imislink needs (only those missing) and, with
# --test, fetches the Apache Kafka jars the test harness runs as a real broker.
# It is the first step of `make test`, `make demo` and `make bench`, so the
# common case (everything present) must stay well under a second: one
# dpkg-query call and one stamp-file check, no apt or Maven.
#
#   --test              also the test tools (PostgreSQL 15, Java 17, Maven, ...)
#                       and the Kafka jars
#   --demo              also PostgreSQL 15, for the demo's throw-away audit store
#   --quiet-if-present  print at most one line when nothing had to be done
#
# Environment: IMISLINK_CACHE (default $HOME/.cache/imislink) holds the jars in
# kafka-<version>/; tests/harness/kafka.sh looks for them there.
set -euo pipefail

usage() {
	sed -n '2,16s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
	exit "$1"
}

want_test=0
want_demo=0
quiet=0
for arg in "$@"; do
	case "$arg" in
	--test) want_test=1 ;;
	--demo) want_demo=1 ;;
	--quiet-if-present) quiet=1 ;;
	-h|--help) usage 0 ;;
	*) echo "deps.sh: unknown option \"$arg\"" >&2; usage 2 >&2 ;;
	esac
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

build_pkgs=(build-essential pkg-config librdkafka-dev libavro-dev
	libcurl4-openssl-dev libcjson-dev libpq-dev libmicrohttpd-dev
	libssl-dev libcmocka-dev)
# postgresql-15 rather than the "postgresql" metapackage: the harness runs
# /usr/lib/postgresql/15/bin, and the metapackage would follow a future
# default version instead.
test_pkgs=(postgresql-15 openjdk-17-jre-headless maven python3 curl
	valgrind iproute2 util-linux)

# The demo runs a throw-away PostgreSQL for the audit store; the product
# itself needs only libpq.
demo_pkgs=(postgresql-15)

pkgs=("${build_pkgs[@]}")
if [ "$want_test" = 1 ]; then
	pkgs+=("${test_pkgs[@]}")
elif [ "$want_demo" = 1 ]; then
	pkgs+=("${demo_pkgs[@]}")
fi

# One dpkg-query for all packages: unknown ones print nothing on stdout and
# are therefore reported missing, which is what we want.
installed=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${pkgs[@]}" \
	2>/dev/null | awk '$2 == "installed" { print $1 }') || true
missing=()
for p in "${pkgs[@]}"; do
	if ! grep -qxF "$p" <<<"$installed"; then
		missing+=("$p")
	fi
done

did_something=0
if [ "${#missing[@]}" -gt 0 ]; then
	did_something=1
	sudo=()
	if [ "$(id -u)" != 0 ]; then
		if ! command -v sudo >/dev/null 2>&1; then
			echo "deps.sh: could not install \"${missing[*]}\": not root and sudo is not installed" >&2
			exit 1
		fi
		sudo=(sudo)
	fi
	echo "deps: installing ${#missing[@]} missing Debian package(s): ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	"${sudo[@]}" apt-get update -qq
	"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" \
		</dev/null
fi

kafka_msg=
if [ "$want_test" = 1 ]; then
	pom="$root/tests/harness/pom.xml"
	version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom")
	if [ -z "$version" ]; then
		echo "deps.sh: could not read kafka.version from \"$pom\"" >&2
		exit 1
	fi
	home=${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}
	cache=${IMISLINK_CACHE:-$home/.cache/imislink}
	dir="$cache/kafka-$version"
	# The stamp holds the pom's checksum, so editing the pom refetches.
	sum=$(sha256sum "$pom" | cut -d' ' -f1)
	if [ -f "$dir/.complete" ] && [ "$(cat "$dir/.complete")" = "$sum" ]; then
		kafka_msg="kafka jars: cached at $dir"
	else
		did_something=1
		mkdir -p "$cache"
		# Two runs (make test and make asan) may start together: the
		# lock serialises the fetch, the second then sees the stamp.
		exec 9>"$cache/.kafka-$version.lock"
		flock 9
		if ! [ -f "$dir/.complete" ] || [ "$(cat "$dir/.complete")" != "$sum" ]; then
			echo "deps: fetching Kafka $version jars with Maven into $dir"
			tmp=$(mktemp -d "$cache/.kafka-$version.XXXXXX")
			# Maven's output goes to a file and is shown only on
			# failure: even -q leaves colour escapes on the terminal.
			if ! mvn -q -B -f "$pom" dependency:copy-dependencies \
				-DoutputDirectory="$tmp" </dev/null >"$tmp.log" 2>&1; then
				tail -n 40 "$tmp.log" >&2
				rm -rf "$tmp" "$tmp.log"
				echo "deps.sh: could not fetch the Kafka jars with \"mvn\": see its output above" >&2
				exit 1
			fi
			rm -f "$tmp.log"
			if ! [ -f "$tmp/kafka_2.13-$version.jar" ]; then
				rm -rf "$tmp"
				echo "deps.sh: could not fetch the Kafka jars: kafka_2.13-$version.jar missing after mvn" >&2
				exit 1
			fi
			echo "$sum" >"$tmp/.complete"
			rm -rf "$dir"
			mv "$tmp" "$dir"
		fi
		exec 9>&-
		kafka_msg="kafka jars: fetched into $dir"
	fi
fi

if [ "$quiet" = 1 ] && [ "$did_something" = 0 ]; then
	if [ -n "$kafka_msg" ]; then
		echo "deps: ${#pkgs[@]} Debian packages present; $kafka_msg"
	fi
	exit 0
fi
echo "deps: ${#pkgs[@]} Debian packages present"
if [ -n "$kafka_msg" ]; then
	echo "$kafka_msg"
fi
