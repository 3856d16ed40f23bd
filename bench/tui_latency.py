"""Key latency of the terminal application during a live replay.

    .venv/bin/python bench/tui_latency.py [--requests 1000] [--presses 80] [--gap 0.25] [--budget-factor 100]

Starts a real server (``python -m server serve`` on a fresh SQLite file, the seed's
budgets multiplied by ``--budget-factor`` and its workspace given credits enough,
so that the replay bills thousands of settlements, every one with an open retry
job), opens the workbench headless (``App.run_test()``, 120×40) on the baseline
scenario with ``--requests`` requests, switches to the live screen and presses
``r``. While the replay runs it presses, ``--gap`` seconds apart, ``2`` (the lab),
``3`` (back to the live screen), ``down`` and ``up`` (the cursor of the settlements
table), each sent as the terminal driver sends a key, and measures the time until
the app has acted on it (``app.screen`` changed, the cursor moved). A heartbeat
task (a 10 ms sleep in a loop) records how late the event loop wakes it: the
longest stalls are what a key waits behind.

``--switch-cpu N`` instead measures, with no server and no replay, the CPU time the
process spends on each of ``N`` screen switches (``2``/``3`` in turn, until the app is
idle again): the cost of a switch itself, which the load of the machine does not change
the way it changes wall-clock latency.

Prints the latency figures (ms: median, p90, max, and how many presses took over
100 ms) for screen switches and for cursor moves, the heartbeat's, the share of a
core the workbench process used and the load average (other work on the machine
counts: compare runs made side by side); ``--json`` prints them as one line of JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from textual import events  # noqa: E402
from textual.widgets import DataTable  # noqa: E402

from tests.support import roomy_seed, start_server  # noqa: E402
from workbench.app.application import WorkbenchApp  # noqa: E402


def scenario(folder: Path, requests: int) -> Path:
    (folder / "data").mkdir(parents=True, exist_ok=True)
    (folder / "scenarios").mkdir(exist_ok=True)
    shutil.copy(ROOT / "data" / "seed.json", folder / "data" / "seed.json")
    text = (ROOT / "scenarios" / "baseline.toml").read_text(encoding="utf-8")
    text = text.replace("\nrequests = 1000\n", f"\nrequests = {requests}\n")
    path = folder / "scenarios" / "baseline.toml"
    path.write_text(text, encoding="utf-8")
    return path


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def figures(values: list[float]) -> dict[str, float]:
    if not values:
        return {"count": 0}
    return {
        "count": len(values),
        "median": round(statistics.median(values), 1),
        "p90": round(percentile(values, 0.9), 1),
        "max": round(max(values), 1),
        "over_100ms": sum(1 for v in values if v > 100.0),
    }


async def measure(base_url: str, scenario_path: Path, presses: int, gap: float) -> dict:
    result: dict = {}
    try:
        await _measure(base_url, scenario_path, presses, gap, result)
    except Exception as exc:  # an app failing as it closes: the figures were taken before
        if "key_to_screen_ms" not in result:
            raise
        result["app_failed_on_exit"] = f"{exc.__class__.__name__}: {exc}"
    return result


async def _measure(base_url: str, scenario_path: Path, presses: int, gap: float, result: dict) -> None:
    app = WorkbenchApp(api_url=base_url, scenario_path=scenario_path, start_server=False)
    latencies: dict[str, list[float]] = {"2": [], "3": [], "down": [], "up": []}
    stalls: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        deadline = time.monotonic() + 30
        while app.profile == "connecting…" and time.monotonic() < deadline:
            await pilot.pause(0.05)
        await pilot.press("3")
        live = app.screen
        await pilot.press("r")
        status = live.query_one("#live-replay-status")

        def replay_done() -> bool:
            text = str(status.render())
            return "done" in text or "stopped" in text

        beating = True

        async def heartbeat() -> None:
            while beating:
                before = time.perf_counter()
                await asyncio.sleep(0.01)
                stalls.append((time.perf_counter() - before - 0.01) * 1000)

        beat = asyncio.create_task(heartbeat())
        driver = app._driver
        assert driver is not None

        async def press(key: str, changed) -> None:
            """Send ``key`` as the terminal driver does; wait until ``changed()``; note the time taken."""
            event = events.Key(key, key if len(key) == 1 else None)
            event.set_sender(app)
            t0 = time.perf_counter()
            driver.send_message(event)
            while not changed():  # noqa: ASYNC110 - polling is the measurement (1 ms steps)
                await asyncio.sleep(0.001)
            latencies[key].append((time.perf_counter() - t0) * 1000)
            await asyncio.sleep(gap)

        table = live.query_one("#live-settlements", DataTable)  # the settlements by status (on main too)
        started = time.monotonic()
        cpu_started = time.process_time()
        for _ in range(presses // 4):
            if replay_done():
                break
            # the lab and back: two screen switches
            await press("2", lambda: app.screen is not live)
            await press("3", lambda: app.screen is live)
            # the cursor down and up the live screen's table
            table.focus()
            row = table.cursor_row
            await press("down", lambda row=row: table.cursor_row != row)
            await press("up", lambda row=row: table.cursor_row == row)
        during = time.monotonic() - started
        cpu = time.process_time() - cpu_started
        beating = False
        await beat
        result.update(
            key_to_screen_ms=figures(latencies["2"] + latencies["3"]),
            key_to_cursor_ms=figures(latencies["down"] + latencies["up"]),
            loop_stall_ms=figures(stalls),
            measured_s=round(during, 1),
            workbench_cpu_share=round(cpu / during, 2) if during else 0.0,
            replay_ended_while_measuring=replay_done(),
        )
        if app.screen is not live:
            await pilot.press("3")
        deadline = time.monotonic() + 600
        while not replay_done() and time.monotonic() < deadline:
            await pilot.pause(0.2)
        result["replay"] = str(status.render())


async def switch_cpu(scenario_path: Path, switches: int) -> dict:
    """CPU milliseconds per screen switch of an offline app (nothing listens on port 9)."""
    app = WorkbenchApp(api_url="http://127.0.0.1:9", scenario_path=scenario_path, start_server=False)
    spent: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(2)
        for key in "3243":  # every screen shown once (first shows compose; they are not measured)
            await pilot.press(key)
            await pilot.pause(0.3)
        for i in range(switches):
            before = time.process_time()
            await pilot.press("2" if i % 2 == 0 else "3")
            await pilot.pause()
            spent.append((time.process_time() - before) * 1000)
    return {"switch_cpu_ms": figures(spent)}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--presses", type=int, default=80, help="keys to press (by fours: 2, 3, down, up)")
    parser.add_argument("--gap", type=float, default=0.25)
    parser.add_argument("--budget-factor", type=float, default=100.0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--switch-cpu", type=int, default=0, metavar="N", help="CPU per switch, offline")
    args = parser.parse_args()
    if args.switch_cpu:
        fig = asyncio.run(switch_cpu(ROOT / "scenarios" / "baseline.toml", args.switch_cpu))["switch_cpu_ms"]
        print(
            json.dumps(fig)
            if args.json
            else (
                f"CPU per screen switch: n={fig['count']} median {fig['median']} ms, p90 {fig['p90']} ms, "
                f"max {fig['max']} ms (load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores)"
            )
        )
        return 0
    with tempfile.TemporaryDirectory(prefix="tui-latency-") as tmp:
        folder = Path(tmp)
        # budgets and workspace credits that last the whole replay (settlements, retry jobs, audit)
        seed = roomy_seed(folder / "seed", args.budget_factor, credits={"workspace_default": 100_000_000})
        server = start_server(folder / "server", {"SEED_PATH": str(seed)})
        try:
            path = scenario(folder, args.requests)
            load_before = os.getloadavg()[0]
            result = asyncio.run(measure(server.base_url, path, args.presses, args.gap))
            result["load_average"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
        finally:
            server.stop()
    if args.json:
        print(json.dumps(result))
        return 0
    keys, cursor, loop = result["key_to_screen_ms"], result["key_to_cursor_ms"], result["loop_stall_ms"]
    print(f"replay: {result.get('replay', '?')}")
    print(f"load average (1 min) before and after: {result['load_average']} on {os.cpu_count()} cores")
    if "app_failed_on_exit" in result:
        print(f"the app failed as it closed: {result['app_failed_on_exit']}")
    print(
        f"measured for {result['measured_s']} s (replay ended while measuring: "
        f"{result['replay_ended_while_measuring']}); the workbench process used "
        f"{result['workbench_cpu_share']:.0%} of a core meanwhile"
    )
    for name, fig in (("key → screen", keys), ("key → cursor", cursor), ("loop stall", loop)):
        if fig["count"]:
            print(
                f"{name:>13}: n={fig['count']} median {fig['median']} ms, p90 {fig['p90']} ms, "
                f"max {fig['max']} ms, over 100 ms: {fig['over_100ms']}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
