#!/usr/bin/env bash
# All-reduce bandwidth, Kiln's communicator against the same MPI_Allreduce from C, 2 ranks on this machine.
# Needs openmpi-bin and libopenmpi-dev (mpicc); build the benchmarks jar first:
#   mvn -q install -DskipTests && mvn -q -Pbench -pl benchmarks -am package -DskipTests
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
ranks=${1:-2}
out=$(mktemp -d)
mpicc -O2 -o "$out/allreduce" benchmarks/scripts/allreduce.c
java=$(ls -d /usr/lib/jvm/*25*/bin/java | head -1)
mpirun -np "$ranks" --bind-to none "$out/allreduce"
# through env: mpirun rewrites a command whose program is named java
mpirun -np "$ranks" --bind-to none /usr/bin/env "$java" --add-modules jdk.incubator.vector \
    --enable-native-access=ALL-UNNAMED -cp benchmarks/target/benchmarks.jar dev.kiln.bench.AllReduceBandwidth
rm -rf "$out"
