#!/bin/sh
# Instructions per request of one contender's server, counted by callgrind:
# the server runs under valgrind, the client (native) drives it twice, and
# the difference between the two runs' counts, divided by the difference
# between their requests, is the cost of one request (connection set-up
# and warm-up cancel).
#
#   benches/callgrind.sh CONTENDER [WORKLOAD] [N1 N2]
#   benches/callgrind.sh tower-ipc-jsonrpc/raw-client W2 20000 60000
#
# WORKLOAD is W2 (default: 1 connection x 128 in flight), W3 or W1 (1 in
# flight). The e2e benchmark binary is built if needed; the profile of the
# second run is left in target/callgrind/ for callgrind_annotate.
set -eu
contender=${1:?usage: benches/callgrind.sh CONTENDER [W1|W2|W3] [N1 N2]}
workload=${2:-W2}
n1=${3:-20000}
n2=${4:-60000}
cd "$(dirname "$0")/.."
bin=$(cargo bench --bench e2e --no-run --message-format=json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*e2e[^"]*\)".*/\1/p' | tail -1)
out=target/callgrind
mkdir -p "$out"
name=$(echo "$contender" | tr '/' '_')
sock=$(mktemp -u /tmp/callgrind-XXXXXX.sock)
fifo=$(mktemp -u /tmp/callgrind-XXXXXX.fifo)
mkfifo "$fifo"

TOWER_IPC_BENCH_ROLE=server TOWER_IPC_BENCH_CONTENDER=$contender \
TOWER_IPC_BENCH_ENDPOINT=$sock \
    valgrind --tool=callgrind ${CALLGRIND_ARGS:-} --callgrind-out-file="$out/$name.%p" "$bin" >"$fifo" 2>"$out/$name.log" &
server=$!
trap 'kill $server 2>/dev/null; rm -f "$fifo" "$sock"' EXIT
read -r ready <"$fifo"
[ "$ready" = READY ] || { echo "server did not start: $ready" >&2; exit 1; }

# One run of the client: prints how many requests it made.
run() {
    TOWER_IPC_BENCH_ROLE=client TOWER_IPC_BENCH_CONTENDER=$contender \
    TOWER_IPC_BENCH_ENDPOINT=$sock TOWER_IPC_BENCH_WORKLOAD=$workload \
    TOWER_IPC_BENCH_SECS=1 TOWER_IPC_BENCH_IDLE=0 \
    TOWER_IPC_BENCH_CALLS=$1 TOWER_IPC_BENCH_REQUESTS=$1 "$bin" </dev/null |
        sed -n 's/^RESULT //p' | {
            read -r first _
            if [ "$workload" = W1 ]; then echo $(($1 + $1 / 10)); else echo "$first"; fi
        }
}

# The instructions counted since the last zeroing, dumped to $1.
count() {
    callgrind_control --dump="$1" $server >/dev/null 2>&1
    sleep 1
    file=$(ls -t "$out/$name".$server* | head -1)
    sed -n 's/^summary: *//p' "$file"
}

run 2000 >/dev/null # warm-up
callgrind_control --zero $server >/dev/null 2>&1
a1=$(run "$n1")
i1=$(count first)
callgrind_control --zero $server >/dev/null 2>&1
a2=$(run "$n2")
i2=$(count second)
echo "$contender $workload: $a1 requests $i1 instructions, $a2 requests $i2 instructions"
echo "$contender $workload: $(( (i2 - i1) / (a2 - a1) )) instructions per request"
