"""How often the calibration's 95 % intervals hold the funnel a log was simulated with.

    .venv/bin/python bench/calibrate_coverage.py [--logs 200] [--requests 600]

Each of ``--logs`` seeded logs (``workbench.engine.funnel_log``: one category, 1–3 slots a request) is
calibrated (``workbench.engine.calibrate``); for each ``[funnel]`` key it prints the share of the logs
whose interval holds the true value (about 0.95 for honest intervals) and the mean interval width.
Too long for the test suite; ``tests/workbench/test_calibrate.py`` checks single seeded logs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench.engine.calibrate import FUNNEL_KEYS, calibrate_log
from workbench.engine.funnel_log import LogSpec, simulated_log
from workbench.engine.scenario import FunnelSpec

TRUE = FunnelSpec(presented=0.85, position_decay=0.7, viewed=0.45, interacted=0.35, converted=0.2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logs", type=int, default=200)
    parser.add_argument("--requests", type=int, default=600)
    args = parser.parse_args()
    held = dict.fromkeys(FUNNEL_KEYS, 0)
    width = dict.fromkeys(FUNNEL_KEYS, 0.0)
    folder = tempfile.TemporaryDirectory()
    log = Path(folder.name) / "log.jsonl"
    for seed in range(args.logs):
        spec = LogSpec(funnels={"c": TRUE}, weights={"c": 1.0}, requests=args.requests, seed=seed)
        log.write_bytes(simulated_log(spec))
        cal = calibrate_log(log)
        for key in FUNNEL_KEYS:
            e = cal.pooled.estimates[key]
            assert e.low is not None and e.high is not None
            held[key] += e.low <= getattr(TRUE, key) <= e.high
            width[key] += e.high - e.low
    print(f"{args.logs} logs of {args.requests} requests; true funnel {msgspec.structs.asdict(TRUE)}")
    for key in FUNNEL_KEYS:
        print(f"{key:15} held {held[key] / args.logs:.3f}   mean width {width[key] / args.logs:.4f}")
    folder.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
