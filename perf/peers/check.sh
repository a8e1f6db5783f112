#!/usr/bin/env bash
# Prints what a server on 127.0.0.1:PORT answers to each bench endpoint, to compare by eye with
# ringserve's bench (same output format for every server). Usage: perf/peers/check.sh PORT
set -u
url=http://127.0.0.1:${1:?usage: check.sh PORT}
show() { echo "== $*"; curl -si "$@" | tr -d '\r'; echo; }
show "$url/"
show "$url/items/5"
show "$url/items/abc"
show "$url/items/a%22b"
show "$url/nope"
show -X POST "$url/"
show -X POST --data-binary 'abc def' "$url/echo"
echo "== $url/stream (head, then the raw chunked body)"
curl -sv "$url/stream" 2>&1 >/dev/null | grep '^< ' | tr -d '\r'
curl -s --raw "$url/stream" | tr -d '\r' | paste -sd' '
