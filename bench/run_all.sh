#!/usr/bin/env bash
# `make bench`: every figure of bench/RESULTS.md measured again on this machine, appended to it as a dated
# section of raw results (the API with wrk at c=16 and c=64, three rounds; the batch engine; the lab's
# loop; a 20-variant sweep; the settlement worker). wrk comes from Debian when it is missing (api.sh);
# nothing else is fetched. Run it on an otherwise idle machine: the figures share its cores.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=$(mktemp)
{
  echo
  echo "## $(date -u +%Y-%m-%d) — make bench (raw output)"
  echo
  echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(uname -sr), $(.venv/bin/python -V)."
  echo
  echo '```text'
  for round in 1 2 3; do
    CONCURRENCY="16 64" bash bench/api.sh evaluate_uncached evaluate_cached receipts_shortlisted
  done
  .venv/bin/python bench/batch.py --repeat 3
  .venv/bin/python bench/lab_latency.py --changes 8
  .venv/bin/workbench sweep scenarios/crowded-market.toml --set traffic.requests=100000 \
    --grid ranking.weights.bid=0.05:0.50:0.05 --grid ranking.floors.relevance=0.65,0.72 --normalise \
    --out "$(mktemp -d)" --no-progress | tail -1
  .venv/bin/python bench/worker.py --settlements 2000 --concurrency 1,8,32
  .venv/bin/python bench/worker.py --settlements 600 --concurrency 1,32 --delay-ms 20
  echo '```'
} 2>&1 | grep -v ' - INFO - \| - WARNING - ' | tee "$out"
cat "$out" >> bench/RESULTS.md
rm -f "$out"
echo "appended to bench/RESULTS.md"
