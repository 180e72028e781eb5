#!/usr/bin/env bash
# kiln serve under load: starts the server on a checkpoint, runs the load generator (N = 1, 4, 16, 64 streams of
# 128 new tokens, then 10 000 short requests for the memory check), stops the server.
#   benchmarks/scripts/serve-load.sh CHECKPOINT [PARALLEL] [extra ServeLoad options]
# Build first: mvn -q install -DskipTests && mvn -q -Pbench -pl benchmarks -am package -DskipTests
set -euo pipefail
cd "$(dirname "$0")/../.."
checkpoint=${1:?usage: serve-load.sh CHECKPOINT [PARALLEL] [ServeLoad options]}
parallel=${2:-64}
shift $(( $# > 1 ? 2 : 1 ))
port=${KILN_LOAD_PORT:-8391}
java=$(ls -d /usr/lib/jvm/*25*/bin/java 2>/dev/null | head -1)
./kiln serve --checkpoint "$checkpoint" --port "$port" --parallel "$parallel" --model-id load > /tmp/kiln-serve-load.log 2>&1 &
launcher=$!
trap 'kill $launcher 2>/dev/null; pkill -f "serve --checkpoint $checkpoint --port $port" 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    sleep 1
done
pid=$(pgrep -f "dev.kiln.cli.Kiln serve --checkpoint $checkpoint --port $port" | head -1)
echo "server pid $pid, $parallel slots, $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
"$java" -cp benchmarks/target/benchmarks.jar dev.kiln.bench.ServeLoad --url "http://127.0.0.1:$port/v1" \
    --model load --pid "$pid" "$@"
