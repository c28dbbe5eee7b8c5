"""CRM write-back (TRENDMINE_CRM_WRITEBACK): a decision recorded on the requesting account.

- salesforce: a completed Task on the account (POST /services/data/v60.0/sobjects/Task,
  WhatId = the account's Salesforce id), with TRENDMINE_SALESFORCE_INSTANCE_URL and an OAuth
  access token (TRENDMINE_SALESFORCE_ACCESS_TOKEN).
- hubspot: a note associated with the company (POST /crm/v3/objects/notes, association type
  190 note -> company), with a private app token (TRENDMINE_HUBSPOT_ACCESS_TOKEN).
The account's id in the CRM: its external id for that system (external_ids.salesforce /
.hubspot), else the account id itself (accounts exported from that CRM). Returns `written`,
or `skipped` when the CRM is not configured; SendFailed when the CRM refuses.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from foundation.config import Settings
from notify import deliver, messages

SALESFORCE_API = "v60.0"
HUBSPOT_NOTE_TO_COMPANY = 190  # HubSpot-defined association type id


def _text(told: dict[str, Any]) -> tuple[str, str]:
    subject, lines = messages.owner_lines(told)
    return subject, "\n".join(lines)


def crm_id(row: dict[str, Any], system: str) -> str:
    ids = row.get("external_ids") or {}
    return str(ids.get(system) or row["account_id"])


def write(settings: Settings, row: dict[str, Any], told: dict[str, Any]) -> str:
    subject, body = _text(told)
    if settings.crm_writeback == "salesforce":
        if not (settings.salesforce_instance_url and settings.salesforce_access_token):
            return "skipped"
        url = (f"{settings.salesforce_instance_url.rstrip('/')}/services/data/{SALESFORCE_API}"
               "/sobjects/Task")
        deliver.post_json(settings, url, {
            "WhatId": crm_id(row, "salesforce"), "Subject": f"trendmine: {subject}"[:255],
            "Description": body[:32000], "Status": "Completed",
            "ActivityDate": datetime.now(UTC).date().isoformat(),
        }, "salesforce task", settings.salesforce_access_token.get_secret_value())
        return "written"
    if settings.crm_writeback == "hubspot":
        if settings.hubspot_access_token is None:
            return "skipped"
        url = f"{settings.hubspot_api_url.rstrip('/')}/crm/v3/objects/notes"
        deliver.post_json(settings, url, {
            "properties": {"hs_timestamp": datetime.now(UTC).isoformat(),
                           "hs_note_body": f"trendmine: {subject}\n\n{body}"[:65000]},
            "associations": [{
                "to": {"id": crm_id(row, "hubspot")},
                "types": [{"associationCategory": "HUBSPOT_DEFINED",
                           "associationTypeId": HUBSPOT_NOTE_TO_COMPANY}],
            }],
        }, "hubspot note", settings.hubspot_access_token.get_secret_value())
        return "written"
    return "skipped"
