"""Fill a SQLite database with N stored receipts (each with its settlement, retry job, audit events,
served slot and intent).

The rows are what the receipt path writes, inserted in bulk, so that the API can
be measured on a large database: ``bench/million.sh`` runs the billable-receipt
load on an empty database and on one with a million receipts.

usage: python bench/fill_receipts.py DB_PATH [N]
"""

from __future__ import annotations

import sqlite3
import sys
import time

import msgspec

BATCH = 20_000


def main() -> int:
    path, total = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    enc = msgspec.json.encode
    started = time.perf_counter()
    for start in range(0, total, BATCH):
        receipts, settlements, jobs, audits, slots, intents = [], [], [], [], [], []
        for i in range(start, min(start + BATCH, total)):
            rid, iid, sid, jid = f"rcpt_fill_{i}", f"int_fill_{i}", f"set_f{i:08x}", f"retry_f{i:08x}"
            receipt = {
                "receiptId": rid,
                "dataProvenance": "demo_bootstrap",
                "intentId": iid,
                "offerId": "offer_hubflow",
                "campaignId": "cmp_hubflow",
                "partnerId": "partner_procure_pilot",
                "eventType": "offer.shortlisted",
                "occurredAt": "2026-03-11T10:00:00Z",
                "signature": "sig",
            }
            settlement = {
                "settlementId": sid,
                "dataProvenance": "demo_bootstrap",
                "campaignId": "cmp_hubflow",
                "offerId": "offer_hubflow",
                "partnerId": "partner_procure_pilot",
                "intentId": iid,
                "billingModel": "CPQR",
                "eventType": "offer.shortlisted",
                "amount": 120.0,
                "currency": "USD",
                "attributionWindow": "session",
                "status": "settled",
                "disputeFlag": False,
                "traceId": iid,
                "generatedAt": "2026-03-11T10:00:00Z",
                "updatedAt": "2026-03-11T10:00:00Z",
            }
            job = {
                "retryJobId": jid,
                "settlementId": sid,
                "traceId": iid,
                "status": "completed",
                "attempts": 1,
                "maxAttempts": 3,
                "nextRunAt": "2026-03-11T10:00:00Z",
                "createdAt": "2026-03-11T10:00:00Z",
                "updatedAt": "2026-03-11T10:00:00Z",
            }
            receipts.append((rid, iid, "cmp_hubflow", "offer.shortlisted", sid, enc(receipt).decode()))
            settlements.append(
                (
                    sid,
                    iid,
                    "offer_hubflow",
                    "offer.shortlisted",
                    "cmp_hubflow",
                    "partner_procure_pilot",
                    "settled",
                    "demo_bootstrap",
                    enc(settlement).decode(),
                )
            )
            jobs.append((jid, sid, iid, "completed", 0, enc(job).decode()))
            slots.append((iid, "offer_hubflow", "partner_procure_pilot", "cmp_hubflow", 1773223200000))
            intents.append((iid, 1, 1))
            for kind in ("receipt", "settlement"):
                audits.append(
                    (
                        f"aud_fill_{kind}_{i}",
                        iid,
                        kind,
                        rid if kind == "receipt" else sid,
                        "demo_bootstrap",
                        enc({"action": kind}).decode(),
                    )
                )
        db.executemany(
            "INSERT INTO receipts (receipt_id, intent_id, campaign_id, event_type, settlement_id, doc) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            receipts,
        )
        db.executemany(
            "INSERT INTO settlements (settlement_id, intent_id, offer_id, event_type, campaign_id, "
            "partner_id, status, provenance, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            settlements,
        )
        db.executemany(
            "INSERT INTO retry_jobs (retry_job_id, settlement_id, trace_id, status, next_run_at_ms, doc) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            jobs,
        )
        db.executemany(
            "INSERT INTO audit_events (audit_event_id, trace_id, entity_type, entity_id, provenance, doc) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            audits,
        )
        db.executemany(
            "INSERT INTO served_slots (intent_id, offer_id, partner_id, campaign_id, served_at_ms) "
            "VALUES (?, ?, ?, ?, ?)",
            slots,
        )
        db.executemany("INSERT INTO intents (intent_id, evaluated, presented) VALUES (?, ?, ?)", intents)
        db.commit()
        print(f"\r{min(start + BATCH, total):,} receipts", end="", file=sys.stderr, flush=True)
    print(f"\nfilled {total:,} receipts in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
