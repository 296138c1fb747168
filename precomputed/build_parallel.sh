#!/usr/bin/env bash
# Build several gallery entries at once, one process per entry (for a machine with a GPU and many
# cores; on a 2-core machine run `lossatlas gallery build` instead). Each process trains what is
# missing and computes (or resumes) its surface; rerunning continues where it stopped.
#   usage: precomputed/build_parallel.sh ID [ID ...]
#   env:   PYTHON (default python3), DEVICE (default cuda), LOG_DIR (default /tmp), THREADS (default 2)
set -u
cd "$(dirname "$0")/.."
if [ $# -eq 0 ]; then
  echo "usage: precomputed/build_parallel.sh ID [ID ...]  (the ids: lossatlas gallery list)" >&2
  exit 2
fi
py=${PYTHON:-python3}
pids=()
for id in "$@"; do
  OMP_NUM_THREADS=${THREADS:-2} "$py" -m workers.cli gallery build --only "$id" --device "${DEVICE:-cuda}" \
    >"${LOG_DIR:-/tmp}/$id.log" 2>&1 &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
exit $status
