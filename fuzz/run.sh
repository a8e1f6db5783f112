#!/usr/bin/env bash
# Runs every fuzz target under AFL++ for a bounded time, then fails if any found a crash or a
# hang. CI runs it with SECONDS_PER_TARGET=12; run it longer by hand (README.md, "Fuzzing"):
#
#   SECONDS_PER_TARGET=600 fuzz/run.sh            # ten minutes each
#   TARGETS="head chunked" fuzz/run.sh            # some targets only
#   KEEP_CORPUS=1 fuzz/run.sh                     # resume from fuzz/out/ instead of the seeds
#
# Installs cargo-afl (0.18, which brings AFL++'s sources) and builds AFL++ when missing. AFL++'s
# output goes to fuzz/out/<target>/ (ignored by git); a crash's input is printed here, and
# replays once copied from fuzz/out/<target>/default/crashes/ into fuzz/seeds/<target>/, by
# `cargo test --test fuzz`.
set -euo pipefail
cd "$(dirname "$0")"

SECONDS_PER_TARGET="${SECONDS_PER_TARGET:-12}"
TARGETS="${TARGETS:-head chunked prefix params json}"
# A run slower than this is a hang. Each input is small (4 KiB at most), so only a real loop
# gets near it, even on a loaded two-core machine.
HANG_TIMEOUT_MS="${HANG_TIMEOUT_MS:-5000}"

# AFL++ is C, built with make and the C compiler (Debian's build-essential).
for tool in make cc; do
  command -v "$tool" >/dev/null 2>&1 || { echo "fuzz: needs $tool (apt-get install build-essential)" >&2; exit 1; }
done
if ! cargo afl --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-afl"
  cargo install --quiet --locked cargo-afl --version 0.18.2
fi
# Builds AFL++ once per toolchain; says so and succeeds when it is already built.
if ! config=$(cargo afl config --build 2>&1); then
  if ! grep -q "already built" <<<"$config"; then
    echo "$config" >&2
    exit 1
  fi
fi

export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$PWD/target}"
cargo afl build --release --quiet --bins

# No UI; CI machines neither pin CPUs nor send cores to a file AFL++ could watch.
export AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1
export AFL_QUIET=1

# One field of a fuzzer_stats file.
stat_of() { awk -F' *: *' -v key="$2" '$1 == key { print $2 }' "$1"; }

failed=0
for target in $TARGETS; do
  out="out/$target"
  input="seeds/$target"
  if [[ -n "${KEEP_CORPUS:-}" && -d "$out/default/queue" ]]; then
    input="-"
  else
    rm -rf "$out"
  fi
  mkdir -p "$out"
  # -V bounds the run; the outer timeout guards against AFL++ itself not stopping.
  timeout --kill-after=10 $((SECONDS_PER_TARGET + 120)) \
    cargo afl fuzz -V "$SECONDS_PER_TARGET" -t "$HANG_TIMEOUT_MS" -i "$input" -o "$out" \
      "$CARGO_TARGET_DIR/release/$target" >"$out/afl.log" 2>&1 || {
    echo "fuzz $target: AFL++ failed; its log:" >&2
    tail -40 "$out/afl.log" >&2
    failed=1
    continue
  }
  stats="$out/default/fuzzer_stats"
  echo "fuzz $target: $(stat_of "$stats" execs_done) executions in $(stat_of "$stats" run_time) s," \
    "corpus $(stat_of "$stats" corpus_count), crashes $(stat_of "$stats" saved_crashes), hangs $(stat_of "$stats" saved_hangs)"
  for kind in crashes hangs; do
    for found in "$out/default/$kind"/id*; do
      [[ -e "$found" ]] || continue
      echo "fuzz $target: found in $kind, input (bytes, escaped): $(od -An -c "$found" | tr -s ' \n' ' ')" >&2
      failed=1
    done
  done
done
exit "$failed"
