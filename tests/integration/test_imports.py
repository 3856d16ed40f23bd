"""``promotion-agent import …`` on a real SQLite database, called in-process through the command line's
``main`` (the subprocess path is covered by tests/e2e/test_real_test.py): good files, bad items, duplicates."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from server.__main__ import main
from tests.support import REPO_ROOT, receipt
from tests.support.cli import write_jsonl
from tests.support.worker_fixtures import COMMAND_ENV_VARS

ORIGINAL = REPO_ROOT / "data" / "original-format"
EXAMPLES = REPO_ROOT / "data" / "examples"


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in COMMAND_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "exchange.sqlite3"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    return path


def run_import(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any], str]:
    code = main(["import", *args])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else {}), err


def counts(summary: dict[str, Any]) -> tuple[int, int, int]:
    return summary["importedCount"], summary["skippedCount"], summary["duplicateCount"]


def test_original_formats_import_once_and_again_as_duplicates(database: Path, capsys) -> None:
    code, summary, _ = run_import(capsys, "campaigns", str(ORIGINAL / "campaigns.template.json"))
    assert (code, counts(summary), summary["activatedCount"]) == (0, (1, 0, 0), 1)
    for kind, path in (
        ("partners", EXAMPLES / "lumio-partner.json"),
        ("campaigns", EXAMPLES / "lumio-campaign.json"),
        ("receipts", ORIGINAL / "receipts.template.json"),
    ):
        code, summary, err = run_import(capsys, kind, str(path))
        assert (code, counts(summary), summary["errors"]) == (0, (1, 0, 0), []), err
    for kind, path in (
        ("campaigns", ORIGINAL / "campaigns.template.json"),
        ("partners", EXAMPLES / "lumio-partner.json"),
        ("campaigns", EXAMPLES / "lumio-campaign.json"),
        ("receipts", ORIGINAL / "receipts.template.json"),
    ):
        code, summary, _ = run_import(capsys, kind, str(path))
        assert (code, counts(summary)) == (0, (0, 0, 1)), kind


def _receipts(n: int, **overrides: Any) -> list[dict[str, Any]]:
    return [
        receipt(receiptId=f"imp-{i:06d}", intentId=f"imp-intent-{i:06d}", eventType="presented", **overrides)
        for i in range(n)
    ]


def test_bad_items_stop_the_whole_file_and_each_is_reported(database: Path, tmp_path: Path, capsys) -> None:
    items = _receipts(4)
    items.insert(1, {**items[0], "receiptId": "imp-bad-type", "occurredAt": 12})
    items.append({**items[0], "receiptId": "imp-bad-campaign", "campaignId": "cmp_nowhere"})
    path = write_jsonl(tmp_path / "receipts.jsonl", items)

    code, summary, err = run_import(capsys, "receipts", str(path))
    assert code == 2
    assert [(e["index"], e["field"]) for e in summary["errors"]] == [(1, "occurredAt"), (5, "campaignId")]
    assert summary["importedCount"] == 0 and "2 invalid items; nothing imported" in err

    # Nothing was imported: with --skip-invalid every good item is new, not a duplicate.
    code, summary, _ = run_import(capsys, "receipts", str(path), "--skip-invalid")
    assert (code, counts(summary)) == (0, (4, 2, 0))
    assert len(summary["errors"]) == 2
    code, summary, _ = run_import(capsys, "receipts", str(path), "--skip-invalid")
    assert counts(summary) == (0, 2, 4)


def test_a_file_that_is_not_json_is_refused_in_one_line(database: Path, tmp_path: Path, capsys) -> None:
    path = tmp_path / "receipts.json"
    path.write_text('[{"receiptId": ', encoding="utf-8")
    code, summary, err = run_import(capsys, "receipts", str(path))
    assert (code, summary) == (2, {})
    assert err.strip().startswith(
        f"promotion-agent: import receipts: {path}: the file is not a valid JSON array"
    )
    assert len(err.strip().splitlines()) == 1


def test_partners_without_a_file_promote_eligible_discovered_leads(
    database: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    seed = json.loads((REPO_ROOT / "data" / "seed.json").read_text(encoding="utf-8"))
    lead = seed["leads"][0]

    def discovered(agent_id: str, org: str, **changes: Any) -> dict[str, Any]:
        return {
            **copy.deepcopy(lead),
            "agentId": agent_id,
            "providerOrg": org,
            "dataOrigin": "discovered",
            "dataProvenance": "real_discovery",
            **changes,
        }

    seed["leads"] = [
        discovered("lead_real_ok", "Real Buyer", endpointUrl="https://agent.realbuyer.ai/opportunities"),
        discovered("lead_real_listing", "Listed Only", endpointUrl="https://mcp.so/servers/listed-only"),
        discovered("lead_real_noshow", "No Show", supportsPresentationReceipt=False),
        discovered("lead_real_new", "Too New", verificationStatus="new"),
    ]
    seed_path = tmp_path / "seed.json"
    seed_path.write_text(json.dumps(seed), encoding="utf-8")
    monkeypatch.setenv("SEED_PATH", str(seed_path))

    code, summary, _ = run_import(capsys, "partners")
    assert (code, counts(summary)) == (0, (1, 3, 0))
    reasons = {e["field"] for e in summary["errors"]}
    assert reasons == {"endpointUrl", "supportsPresentationReceipt", "verificationStatus"}
    code, summary, _ = run_import(capsys, "partners")
    assert counts(summary) == (0, 3, 1)


def test_five_thousand_json_lines(database: Path, tmp_path: Path, capsys) -> None:
    path = write_jsonl(tmp_path / "many.jsonl", _receipts(5000))
    code, summary, _ = run_import(capsys, "receipts", str(path))
    assert (code, counts(summary)) == (0, (5000, 0, 0))
