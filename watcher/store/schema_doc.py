"""The database's documentation, kept next to the code: every table, view and column in plain words.

``watcher schema`` renders it as Markdown (docs/schema.md) and as Datasette metadata
(datasette/metadata.json); tests check that both files match and that every column of a
freshly migrated database is described, so the reference never drifts from the schema.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from sqlite_utils import Database

USD = "US dollars, exact to the cent"
ISO_DATE = "ISO date (YYYY-MM-DD)"
UTC = "UTC timestamp (ISO 8601)"

TABLES: dict[str, tuple[str, dict[str, str]]] = {
    "awards": (
        "One row per award (a contract or an IDV), in its latest known state.",
        {
            "award_key": "USAspending's generated award id (generated_internal_id), upper case: "
            "CONT_AWD_<PIID>_<agency>_<parent PIID>_<parent agency> or CONT_IDV_<PIID>_<agency>",
            "piid": "The procurement instrument id (the contract number), e.g. 70CTD026FC0000012",
            "category": "contract or idv",
            "award_type": "USAspending's award type, e.g. DELIVERY ORDER, BPA CALL, DEFINITIVE CONTRACT",
            "recipient_name": "The recipient (prime contractor) as USAspending names it",
            "recipient_uei": "The recipient's 12-character SAM.gov Unique Entity ID",
            "parent_name": "The recipient's ultimate parent company (from the award detail)",
            "parent_uei": "The ultimate parent's UEI",
            "awarding_agency": "The department that signed the award, e.g. Department of Homeland Security",
            "awarding_subagency": "The component that signed it, e.g. U.S. Immigration and Customs Enforcement",
            "funding_agency": "The department whose money pays for it",
            "funding_subagency": "The component whose money pays for it",
            "description": "The award's description (its base action's text)",
            "total_obligation": f"Total obligated so far, {USD}",
            "potential_value": f"Base and all options: the most the award can grow to, {USD}",
            "start_date": f"Period of performance start, {ISO_DATE}",
            "end_date": f"Current end of the period of performance, {ISO_DATE} (contracts)",
            "potential_end_date": f"End if every option is exercised, {ISO_DATE}",
            "last_date_to_order": f"Last date to place orders, {ISO_DATE} (IDVs)",
            "parent_award_piid": "The PIID of the IDV or BPA this order was placed under, if any",
            "naics_code": "Industry code (NAICS)",
            "naics_description": "Industry (NAICS) description",
            "psc_code": "Product or service code (PSC)",
            "psc_description": "Product or service (PSC) description",
            "last_modified_date": f"When FPDS last modified the award's latest action, {ISO_DATE}",
            "source_url": "The award's page on usaspending.gov",
            "fingerprint": "Hash of the search result row last stored; an identical row means nothing changed",
            "first_seen_at": f"When the watcher first stored the award, {UTC}",
            "last_seen_at": f"When a poll last returned the award, {UTC} (refreshed at most daily)",
            "enriched_at": f"When its transactions and detail were last fetched, {UTC}; null if never",
            "backfilled_at": f"When `watcher backfill` stored it (null: a poll did), {UTC}",
            # The competition facts (docs/competition.md), from the award detail's latest_transaction_contract_data.
            "extent_competed": "FPDS extent-competed code: A full and open, B not available for competition, "
            "C not competed, D full and open after exclusion of sources, F competed under simplified "
            "acquisition, G not competed under simplified acquisition (null: not reported or not read yet)",
            "extent_competed_description": "The API's words for extent_competed, e.g. NOT COMPETED",
            "number_of_offers_received": "How many offers the agency received (an integer; null: not reported)",
            "solicitation_procedures": "FPDS solicitation-procedures code, e.g. NP negotiated proposal, "
            "SSS only one source, SP1 simplified acquisition, MAFO fair opportunity under a multiple-award vehicle",
            "solicitation_procedures_description": "The API's words for solicitation_procedures",
            "other_than_full_and_open": "The authority cited for not competing fully (FAR 6.302), e.g. ONE only "
            "one source, URG urgency; null when the award was competed",
            "other_than_full_and_open_description": "The API's words for other_than_full_and_open",
            "type_set_aside": "Set-aside code: NONE, or the class of business it was reserved for (SBA small "
            "business, 8A, HZC HUBZone, SDVOSBC, WOSB...)",
            "type_set_aside_description": "The API's words for type_set_aside",
            "type_of_contract_pricing": "Pricing code, e.g. J firm fixed price, Y time and materials, "
            "U cost plus fixed fee",
            "type_of_contract_pricing_description": "The API's words for type_of_contract_pricing",
            "solicitation_identifier": "The solicitation the award came from: links SAM.gov notices with the "
            "same solicitation number (view award_notices)",
            "base_exercised_options": f"Base and exercised options: what is committed so far, {USD}; "
            "the ceiling (base and all options) is potential_value",
            "parent_award_key": "The parent IDV's generated id (CONT_IDV_...), from the award detail",
        },
    ),
    "transactions": (
        "One row per contract action: the base award and each modification.",
        {
            "transaction_key": "USAspending's transaction id, CONT_TX_...",
            "award_key": "The award it belongs to (awards.award_key)",
            "modification_number": "0 for the base action, else the modification number (e.g. P00012)",
            "action_date": f"Date the action was signed, {ISO_DATE}",
            "action_type": "FPDS action type code (e.g. C = funding only action)",
            "action_type_description": "FPDS action type in words",
            "obligation": f"Money this action obligated (negative for a de-obligation), {USD}",
            "description": "The action's description",
            "first_seen_at": f"When the watcher first stored it, {UTC}",
            "last_seen_at": f"When it was last fetched, {UTC}",
            "backfilled_at": f"When `watcher backfill` stored it under a composed, provisional key, {UTC}; null"
            " once a poll or SAM.gov gave its real key (a composed key they lack is replaced by the real one)",
        },
    ),
    "changes": (
        "The append-only log of what the watcher detected, one row per event.",
        {
            "id": "Sequence number; later changes have larger ids",
            "run_id": "The poll that detected it (runs.id)",
            "detected_at": f"When it was detected, {UTC}",
            "kind": "new_award, award_changed, new_transaction, transaction_changed, deleted, new_notice, "
            "notice_changed, new_subaward, subaward_changed, subaward_deleted, ending_soon (an award's final date "
            'or last order date is within 30 days: once per award and date, its diff {"ends_on": [null, date]})',
            "entity_key": "What changed: an award_key, transaction_key, notice_id or subaward_key",
            "award_key": "The award concerned (for a subaward, its prime)",
            "diff": 'JSON {"field": [old, new]} for every field that changed (amounts as exact decimal strings); '
            "{} for new records",
            "amount_delta": f"Change in obligation ({USD}): the new award's total, the action's amount, "
            "or new total minus old",
            "source": "The API it came from: usaspending, sam_awards or sam_opportunities; null for ending_soon, "
            "which the watcher derives from dates it holds",
        },
    ),
    "matches": (
        "Why each award (or SAM.gov notice) belongs to a watch, with the evidence (one row per watch, award, vendor "
        "and reason).",
        {
            "watch": "The watch's name in queries.yaml",
            "entity_key": "The award (awards.award_key), notice (notices.notice_id) or subaward"
            " (subawards.subaward_key: a watched vendor as the sub-recipient)",
            "vendor": "The vendor's key in seeds/vendors.yaml; empty for a match on one of the watch's keywords",
            "reason": "uei (recipient UEI), recipient (recipient name is an alias), parent (parent UEI or name), "
            "mention (a description names the vendor's product), keyword (a watch keyword), vehicle (an order under "
            "one of the vendor's own contract vehicles, seeds/vendors.yaml), reviewed (a reseller order a person "
            "confirmed in the review queue: see the review table); for notices also award (it announces an award "
            "the watch holds) and agency (the watch takes every notice of its agencies)",
            "evidence": "The text that matched, quoted",
            "matched_at": f"When this reason was first recorded, {UTC}",
        },
    ),
    "attributions": (
        "Which contract actions tie an award's money to a vendor, and by which path (watcher/attribution.py): "
        "the basis of every published total, a lower bound. Rebuilt whenever an award's matches are written.",
        {
            "watch": "The watch whose match ties them",
            "vendor": "The vendor's key in seeds/vendors.yaml",
            "transaction_key": "The contract action (transactions.transaction_key)",
            "award_key": "Its award (awards.award_key)",
            "path": "direct (the recipient is the vendor: every action), vehicle (an order under the vendor's own "
            "contract vehicle: every action), reviewed (a person confirmed it: every action), reseller (the vendor "
            "is only named in text: every action when the award's own description names it, else only the actions "
            "whose own description names it)",
        },
    ),
    "subawards": (
        "One row per reported subaward (a subcontract under a prime award), its re-filed reports collapsed into it: "
        "watched vendors as sub-recipients under the watched agencies' primes, and every subaward of a prime a "
        "watch holds. From USAspending's subaward search and /api/v2/subawards/ (FFATA/FSRS reports).",
        {
            "subaward_key": "SUBAWD_ and a hash of prime award key + subaward number + subaward date + normalized "
            "sub-recipient name: what makes two reports the same subaward (README.md, Subawards)",
            "prime_award_key": "The prime award it is under (awards.award_key when a watch holds the prime)",
            "prime_piid": "The prime's PIID",
            "subaward_number": "The number the prime contractor gave the subaward (USAspending's Sub-Award ID)",
            "report_id": "USAspending's id of the newest report of it (/api/v2/subawards/ only; null from the search)",
            "sub_recipient_name": "The subcontractor, as USAspending names it",
            "sub_recipient_uei": "The subcontractor's UEI (the subaward search gives it; /api/v2/subawards/ does not)",
            "sub_parent_name": "The subcontractor's parent company (no USAspending subaward answer gives it yet)",
            "sub_parent_uei": "The parent's UEI (likewise)",
            "amount": f"The subaward's amount as reported, {USD}",
            "action_date": f"The subaward's date, {ISO_DATE}",
            "description": "The subaward's description (upper case, as USAspending keeps it)",
            "prime_recipient_name": "The prime contractor (from the subaward search)",
            "awarding_subagency": "The component that awarded the prime (from the subaward search)",
            "report_count": "How many reports of this subaward the last answer held (re-filings, duplicates)",
            "fingerprint": "Hash of what the last answer said of it; equal means nothing to write",
            "first_seen_at": f"When the watcher first stored it, {UTC}",
            "last_seen_at": f"When an answer last listed it, {UTC} (refreshed at most daily)",
            "deleted_at": f"When its prime's complete list stopped listing it (subaward_deleted), {UTC}; null while "
            "listed",
        },
    ),
    "subaward_checks": (
        "Per prime award: what its award detail said of its subawards when its subaward list was last read, so an "
        "unchanged prime costs no subaward request.",
        {
            "award_key": "The prime (awards.award_key)",
            "subaward_count": "The detail's subaward_count: every report under the prime, re-filings included",
            "total_subaward_amount": f"The detail's total_subaward_amount, {USD}",
            "checked_at": f"When the list was read (or the detail said there were none), {UTC}",
        },
    ),
    "runs": (
        "One row per watch, source and poll: what ran, how it went, and what it cost.",
        {
            "id": "Sequence number",
            "started_at": f"Start, {UTC}",
            "finished_at": f"End, {UTC}",
            "duration_seconds": "Wall-clock duration in seconds",
            "watch": "The watch's name",
            "source": "usaspending, sam_awards or sam_opportunities",
            "status": "ok, error, or running (in progress, or interrupted: then marked error at the next poll)",
            "requests": "HTTP requests sent, retries included",
            "pages": "Search result pages read",
            "records": "Distinct awards the searches returned",
            "changes": "Changes recorded (0 when the run failed: nothing of a failed run is kept)",
            "error": "What went wrong, in words (secrets removed)",
            "warnings": "Per-award problems of a run that succeeded (e.g. a detail fetch that failed); those awards "
            "are read again at the next poll",
        },
    ),
    "provenance": (
        "Where each record came from: per source, when it was first and last seen, the official link, "
        "and the raw API record.",
        {
            "entity_key": "An award_key, transaction_key or notice_id",
            "source": "The API: usaspending, sam_awards or sam_opportunities",
            "first_seen_at": f"First time this source returned it, {UTC}",
            "last_seen_at": f"Last time this source returned it, {UTC} (refreshed at most daily)",
            "url": "The official page for the record",
            "raw_refs": "JSON list of [responses.id, index]: the API responses that carried the record (the "
            "search row at that index of the results, or the whole detail response when the index is null); "
            "`watcher history KEY --raw` prints them",
        },
    ),
    "provenance_versions": (
        "Each record's raw versions kept: one row per distinct raw_refs a source gave it, the latest "
        "settings.raw_versions_kept (default 3) of them; the current one is provenance.raw_refs. The site's "
        "public database keeps the current one only.",
        {
            "id": "Sequence number (version_responses.version_id points here)",
            "entity_key": "An award_key, transaction_key or notice_id",
            "source": "The API",
            "raw_refs": "JSON list of [responses.id, index], as in provenance.raw_refs",
            "first_seen_at": f"When the record was first read in this version, {UTC}",
            "last_seen_at": f"When it was last read in this version, {UTC}",
        },
    ),
    "version_responses": (
        "Which kept versions refer to which responses (an index of provenance_versions.raw_refs): a response "
        "no version (nor a staged backfill action) refers to is deleted.",
        {
            "response_id": "responses.id",
            "version_id": "provenance_versions.id",
        },
    ),
    "responses": (
        "API responses kept byte for byte (zlib-compressed) because they carried a new or changed record; "
        "kept while a record's kept version (version_responses) refers to them.",
        {
            "id": "Sequence number (provenance.raw_refs points here)",
            "source": "The API",
            "method": "GET or POST",
            "path": "The endpoint",
            "request": "The JSON body sent, for POSTs",
            "received_at": f"When it was received, {UTC}",
            "content": "The response body exactly as received, zlib-compressed (SAM.gov's with any secret the "
            "answer echoed redacted)",
            "content_sha256": "SHA-256 of the body: an identical answer from the same source is stored once "
            "(received_at is when that content first came); null for answers stored before the "
            "column existed",
        },
    ),
    "notices": (
        "SAM.gov notices (award notices, solicitations, sources sought, justifications). Filled by the SAM.gov "
        "sources; empty when they are not configured.",
        {
            "notice_id": "SAM.gov noticeId",
            "type": "Notice type (e.g. Award Notice, Solicitation, Sources Sought, Justification)",
            "title": "Notice title",
            "solicitation_number": "Solicitation number",
            "agency_path": "The full agency path (fullParentPathName)",
            "posted_date": f"Date posted, {ISO_DATE}",
            "award_number": "For award notices: the award (contract) number",
            "award_amount": f"For award notices: the amount, {USD}; empty when SAM.gov gave none or no number "
            "(then see award_amount_text)",
            "award_amount_text": "For award notices whose amount is not a number (e.g. $1.2M, TBD): the amount as "
            "SAM.gov wrote it; empty otherwise",
            "awardee_name": "For award notices: the awardee",
            "awardee_uei": "For award notices: the awardee's UEI",
            "award_key": "The award it is linked to (awards.award_key), when its award number matches a PIID",
            "first_seen_at": f"First seen, {UTC}",
            "last_seen_at": f"Last seen, {UTC}",
            "source_url": "The notice on sam.gov",
            "agency_code": "The agency path as codes (fullParentPathCode), e.g. 070.7012.70CDCT: department, "
            "component, office",
            "response_deadline": "When responses are due (ISO 8601 with the agency's UTC offset), for solicitations",
            "active": "Yes or No, as SAM.gov says",
            "fingerprint": "Hash of the notice's fields last stored; a different one means the notice changed",
        },
    ),
    "rejected": (
        "Search results the matcher turned down (e.g. a keyword that matched inside another word); kept so "
        "an unchanged one costs no request again.",
        {
            "watch": "The watch",
            "award_key": "The award that was turned down",
            "fingerprint": "Hash of the search row when it was turned down",
            "rejected_at": f"When, {UTC}",
        },
    ),
    "review": (
        "The review queue: orders from known resellers to a watched agency that name no watched vendor or product. "
        "Not matches (not in matches, awards or any total) until a person confirms one with `watcher review "
        "confirm`; kept with every decision. The operator's: not in the site's downloads.",
        {
            "watch": "The watch",
            "entity_key": "The order (its award_key)",
            "reseller": "The reseller's key in seeds/vendors.yaml (resellers)",
            "status": "pending (waiting for a decision), confirmed (it belongs to the watch: matched with reason "
            "reviewed) or dismissed (not the watch's; it never comes back to the queue)",
            "vendor": "For a confirmed order: the vendor the reviewer attributed it to (empty: none named)",
            "decided_by": "Who decided (`--by`, default the login name)",
            "decided_at": f"When, {UTC}",
            "note": "The reviewer's reason, as written",
            "first_seen_at": f"When a poll first queued it, {UTC}",
            "last_seen_at": f"When a poll last judged it, {UTC}",
            "fingerprint": "Hash of the search row it was judged at: an unchanged order costs no request again",
            "piid": "The order's PIID",
            "recipient_name": "The recipient (the reseller) as USAspending names it",
            "awarding_subagency": "The component that placed the order",
            "parent_award_piid": "The IDV or BPA it was placed under, if any",
            "description": "The order's description (its base action's text)",
            "total_obligation": f"Total obligated when last seen, {USD}",
            "source_url": "The order on usaspending.gov",
        },
    ),
    "watch_rules": (
        "The match rules each watch last ran with; an edit to the vendor map or the watch re-judges its awards.",
        {
            "watch": "The watch",
            "signature": "Hash of the watch's vendors, keywords, minimum amount and the reseller map",
            "updated_at": f"When the rules last changed, {UTC}",
        },
    ),
    "agency_checks": (
        "Agency names USAspending confirmed (exact, case-sensitive), checked again after a week.",
        {
            "name": "The agency name as the watch sends it",
            "tier": "toptier or subtier",
            "verified_at": f"When USAspending's agency autocomplete last returned exactly this name, {UTC}",
        },
    ),
    "schema_versions": (
        "Which watcher version applied each schema migration: a database migrated by a newer watcher is refused"
        " by an older one (nothing written), naming the version it needs.",
        {
            "migration": "The migration's name (as in _sqlite_migrations)",
            "watcher_version": "The watcher version that applied it (or first noted it, for older databases)",
            "recorded_at": f"When it was noted, {UTC}",
        },
    ),
    "daemon_jobs": (
        "When each `watcher daemon` job (poll, site, site_full, digest) last ran.",
        {"job": "The job's name", "last_run_at": f"When it last finished, {UTC}"},
    ),
    "health": (
        "What the admins (settings.alerts.admins) were last told about each watch and source.",
        {
            "watch": "The watch",
            "source": "The source",
            "state": "ok, broken (failing settings.alerts.after_failures runs in a row) or quiet (nothing new for "
            "settings.alerts.quiet_days)",
            "since": f"When it entered that state, {UTC}",
            "detail": "The subject of the alert that said so",
            "alerted_at": f"When the alert was sent, {UTC}",
        },
    ),
    "subscribers": (
        "Digest subscribers (from queries.yaml) as the ledger knows them: how far their digests have got.",
        {
            "subscriber": "The subscriber's name in queries.yaml",
            "email": "Their address",
            "first_seen_at": f"When `watcher digest` first saw them, {UTC}",
            "watermark": "changes.id up to which every change was considered for them (sent or filtered out)",
            "last_slot": f"The last daily/weekly slot a digest was sent for, {UTC}",
        },
    ),
    "deliveries": (
        "The digest outbox ledger: one row per digest per subscriber, with the exact message sent.",
        {
            "id": "Delivery id",
            "subscriber": "subscribers.subscriber",
            "email": "The address it went to",
            "channel": "email, or apprise (a short chat/push notice of the same digest)",
            "status": "pending (stored, not yet confirmed), sent (the SMTP server accepted it), "
            "written (.eml written to the outbox), failed (not accepted; its changes go into the next digest) "
            "or held (a chat notice waiting for its e-mail)",
            "created_at": f"When the digest was rendered, {UTC}",
            "slot": f"The daily/weekly slot it served (instant: its creation time), {UTC}",
            "sent_at": f"When the server accepted it (or the file was written), {UTC}",
            "attempts": "Delivery attempts so far",
            "error": "The last failure, if any",
            "subject": "The Subject line",
            "message_id": "Its Message-ID; a resend after a crash reuses it, so a duplicate is recognisable",
            "changes": "How many changes it carries",
            "considered_up_to": "The highest changes.id considered when it was built",
            "outbox_path": "The .eml file, in outbox mode",
            "message": "The complete message (RFC 5322 bytes), resent unchanged if a send is retried",
            "parent_id": "For a chat notice (channel apprise): the e-mail delivery it announces, held until sent",
            "coming_up_until": "The last date its Coming up section covered (none: no section); the next "
            "digest lists only later dates and those of awards that changed, so each date is told once",
        },
    ),
    "delivery_items": (
        "Which changes each digest carried: a change is delivered to a subscriber once a delivery holding it is sent.",
        {
            "delivery_id": "deliveries.id",
            "change_id": "changes.id",
            "award_key": "The award (or notice) the change belongs to; used to thread later mails",
        },
    ),
    "vendors": (
        "The reviewed vendor map (seeds/vendors.yaml), reloaded by `watcher init` and every poll.",
        {
            "vendor": "The vendor's key",
            "name": "Display name",
            "aliases": "JSON list of recipient-name forms",
            "ueis": "JSON list of UEIs a real record shows for the vendor",
            "parent_ueis": "JSON list of ultimate-parent UEIs",
            "mentions": "JSON list of words that name the vendor's products in descriptions",
            "evidence": "JSON list of the records that justify the entry",
        },
    ),
    "resellers": (
        "Known resellers (seeds/vendors.yaml) and the vendors real records show them carrying.",
        {
            "reseller": "The reseller's key",
            "name": "Display name",
            "aliases": "JSON list of recipient-name forms",
            "vendors": "JSON list of vendor keys it was seen selling",
            "evidence": "JSON list of the records that show it",
        },
    ),
    "agencies": (
        "Agencies the watches can name (seeds/agencies.yaml), with USAspending's exact names.",
        {
            "agency": "The agency's key",
            "name": "Exact USAspending name",
            "tier": "toptier (a department) or subtier (a component)",
            "abbreviation": "Abbreviation, e.g. ICE",
            "code": "Agency code (subtier code, or CGAC code for a department)",
            "toptier_name": "The department a component belongs to",
            "department_code": "FPDS/SAM.gov department code (DHS: 7000), for departments",
        },
    ),
    "backfills": (
        "Each `watcher backfill --since DATE` per watch: its window, its plan of slices, and whether it finished.",
        {
            "watch": "The watch",
            "since": "Start of the history, ISO date (YYYY-MM-DD)",
            "until": "End of the history, ISO date (YYYY-MM-DD); a resumed backfill keeps it",
            "plan": "JSON {walk: days per slice}, sized with the count endpoints; a resumed backfill keeps it",
            "started_at": f"When it started, {UTC}",
            "finished_at": f"When it finished (null: unfinished, or interrupted: run it again to resume), {UTC}",
            "error": "Why the last attempt stopped, if it failed",
        },
    ),
    "backfill_slices": (
        "Checkpoints: every date slice (or PIID batch) a backfill has written; a resumed backfill skips them.",
        {
            "watch": "The watch",
            "since": "The backfill (backfills.since)",
            "kind": "transactions (actions by the watch's filters), awards, or complete (all actions of kept awards)",
            "query": "The walk, e.g. contracts/awarding/keyword, or the hash of a PIID batch",
            "slice_from": "Slice start, ISO date (YYYY-MM-DD)",
            "slice_to": "Slice end, ISO date (YYYY-MM-DD)",
            "records": "Rows the slice returned",
            "done_at": f"When it was written, {UTC}",
            "warning": "Set when the slice held more actions than spending_by_transaction can serve (49,900 a walk):"
            " the rest could not be read",
        },
    ),
    "backfill_transactions": (
        "Contract actions a backfill fetched in bulk (spending_by_transaction), waiting for their awards; emptied "
        "when the backfill finishes.",
        {
            "watch": "The watch",
            "award_key": "The award",
            "mod": "Modification number (0 = base)",
            "row_hash": "Hash of the row (the endpoint has no tie-breaker: a row seen again on a later page is kept"
            " once)",
            "ordinal": "Its place among identical rows of one page (0, 1, ...): two identical actions in one answer"
            " are two actions",
            "action_date": "Action date, ISO date (YYYY-MM-DD)",
            "action_type": "FPDS action type code",
            "obligation": f"Amount, {USD}",
            "description": "The action's description",
            "response_id": "responses.id of the page that carried it",
            "response_index": "Its index in that page",
        },
    ),
    "sam_requests": (
        "Every request sent to SAM.gov, counted against the daily budget (settings.sam.daily_budget) before it "
        "was sent. The API key is never stored.",
        {
            "id": "Sequence number",
            "sent_at": f"When it was sent, {UTC}",
            "day": "The UTC day it counts against (SAM.gov's quota resets at 00:00 UTC)",
            "source": "sam_awards or sam_opportunities",
            "watch": "The (first) watch it served",
            "query": "The query, in words (e.g. contracting 7012 (ICE))",
            "page": "Page index (0 = first page)",
            "status": "HTTP status; null when no answer came (timeout, connection lost, or the process stopped)",
            "error": "What went wrong, if anything (secrets removed)",
            "next_access_at": f"For a 429: when SAM.gov allows requests again, {UTC}",
        },
    ),
    "sam_walks": (
        "Where each SAM.gov query stands: its current window, the next page to read, and how far it is complete.",
        {
            "source": "sam_awards or sam_opportunities",
            "query": "The query's filters (its identity)",
            "watches": "Comma-separated watches it serves",
            "window_from": "Start of its current window (lastModifiedDate or postedFrom), ISO date (YYYY-MM-DD)",
            "window_to": "End of its current window, ISO date (YYYY-MM-DD)",
            "next_page": "The page to read next when the walk was stopped by the budget (0: no walk in progress)",
            "pages": "Pages in the current window",
            "total": "Records in the current window, as SAM.gov counted them",
            "done_through": "Everything up to this day has been read, ISO date (YYYY-MM-DD)",
            "done_at": f"When the last complete walk finished, {UTC}",
            "updated_at": f"Last progress, {UTC}",
        },
    ),
}

VIEWS: dict[str, tuple[str, dict[str, str]]] = {
    "award_vendors": (
        "Each award with each vendor it matched, the reasons and the watches.",
        {
            "award_key": "The award",
            "vendor": "The vendor's key",
            "reasons": "Comma-separated reasons",
            "watches": "Comma-separated watches",
        },
    ),
    "change_fields": (
        "Field-by-field history: one row per changed field of every change (changes.diff exploded).",
        {
            "change_id": "changes.id",
            "detected_at": f"When, {UTC}",
            "kind": "The change kind",
            "source": "The API",
            "entity_key": "What changed",
            "award_key": "The award",
            "field": "The field that changed",
            "old_value": "Its value before",
            "new_value": "Its value after",
        },
    ),
    "recent_changes": (
        "Every change, newest first, with the award's PIID, recipient, vendors, agency and amounts.",
        {
            "change_id": "changes.id",
            "detected_at": f"When, {UTC}",
            "kind": "The change kind",
            "entity_key": "What changed",
            "award_key": "The award",
            "piid": "The award's PIID",
            "recipient_name": "The recipient",
            "vendors": "Matched vendors, comma-separated",
            "awarding_subagency": "The awarding component",
            "amount_delta": f"Change in obligation, {USD}",
            "total_obligation": f"The award's total now, {USD}",
            "diff": "JSON {field: [old, new]}",
            "source_url": "The award on usaspending.gov",
        },
    ),
    "vendor_actions": (
        "Each contract action tied to a vendor once, with its strongest path across watches (from attributions).",
        {
            "vendor": "The vendor's key",
            "transaction_key": "The contract action",
            "award_key": "Its award",
            "path": "direct, vehicle, reviewed or reseller (the strongest of the watches' paths)",
        },
    ),
    "tied_actions": (
        "Each contract action tied to any watched vendor, once, with its strongest path: what all-vendor totals sum.",
        {
            "transaction_key": "The contract action",
            "path": "direct, vehicle, reviewed or reseller (the strongest across vendors and watches)",
        },
    ),
    "vendor_subawards": (
        "Subawards reported to a vendor (matched as sub-recipient) under primes none of whose actions is already "
        "that vendor's: the subaward path of the totals (a subaward's dollars are also its prime's).",
        {
            "vendor": "The vendor's key",
            "subaward_key": "The subaward (subawards.subaward_key)",
            "prime_award_key": "Its prime award",
            "amount": f"The subaward's amount, {USD}",
            "action_date": f"The subaward's date, {ISO_DATE}",
            "awarding_subagency": "The component that awarded the prime",
        },
    ),
    "obligations_by_vendor_fy": (
        "At least this much money obligated per vendor, path, federal fiscal year (October to September) and "
        "awarding component: the sum of the contract actions tied to the vendor (vendor_actions), so an award "
        "that names the vendor in one modification counts that modification only. An action tied to two vendors "
        "counts for each vendor here, and once in obligations_fy.",
        {
            "vendor": "The vendor's key",
            "path": "How the money reached the vendor: direct, vehicle, reviewed, reseller (contract actions) or "
            "subaward (reported subawards, vendor_subawards)",
            "fiscal_year": "Federal fiscal year (FY2026 = 2025-10-01..2026-09-30)",
            "awarding_subagency": "The awarding component",
            "awards": "Awards with actions that year",
            "transactions": "Contract actions that year",
            "obligated": f"Sum of the actions' obligations, {USD}",
        },
    ),
    "obligations_fy": (
        "At least this much money obligated to the watched vendors together, per fiscal year and awarding "
        "component: every action tied to any vendor, each counted once.",
        {
            "fiscal_year": "Federal fiscal year (FY2026 = 2025-10-01..2026-09-30)",
            "awarding_subagency": "The awarding component",
            "awards": "Awards with such actions that year",
            "transactions": "Contract actions that year",
            "obligated": f"Sum of the actions' obligations, {USD}",
        },
    ),
    "reseller_awards": (
        "Awards bought through someone else: a vendor is mentioned, but the recipient is not that vendor.",
        {
            "award_key": "The award",
            "piid": "Its PIID",
            "vendor": "The vendor mentioned",
            "recipient_name": "Who was paid (a reseller or integrator)",
            "awarding_subagency": "The awarding component",
            "total_obligation": f"Total obligated, {USD}",
            "description": "The award's description",
            "evidence": "The mention that matched",
            "source_url": "The award on usaspending.gov",
        },
    ),
    "award_flags": (
        "Competition flags per award, each 1 or 0 (the rules are in docs/competition.md).",
        {
            "award_key": "The award",
            "piid": "Its PIID",
            "recipient_name": "Its recipient",
            "awarding_subagency": "The component that signed it",
            "total_obligation": f"Total obligated, {USD}",
            "ceiling": f"Base and all options (awards.potential_value), {USD}",
            "base_exercised_options": f"Base and exercised options, {USD}",
            "number_of_offers_received": "Offers received",
            "extent_competed": "FPDS extent-competed code",
            "solicitation_procedures": "FPDS solicitation-procedures code",
            "other_than_full_and_open": "The authority for not competing fully",
            "type_set_aside": "Set-aside code",
            "single_offer": "1 when exactly one offer was received",
            "sole_source": "1 when extent_competed is B, C, G or NDO (not competed) or solicitation_procedures "
            "is SSS (only one source)",
            "small_business_set_aside_to_big_tech": "1 when the award was set aside for small businesses "
            "(type_set_aside other than NONE) and it matches a watched vendor, none of which is a small business",
            "near_ceiling": "1 when total_obligation is above 90% of a positive ceiling",
            "source_url": "The award on usaspending.gov",
        },
    ),
    "award_notices": (
        "SAM.gov notices tied to an award: by the award number they announce, or by the award's solicitation number.",
        {
            "award_key": "The award",
            "notice_id": "SAM.gov noticeId",
            "type": "Notice type (solicitation, justification, award notice...)",
            "title": "Notice title",
            "posted_date": f"Posted, {ISO_DATE}",
            "solicitation_number": "The notice's solicitation number",
            "linked_by": "award number, or solicitation number (compared in upper case without dashes or spaces)",
            "notice_url": "The notice on sam.gov",
        },
    ),
    "notice_awards": (
        "SAM.gov notices linked to the awards they announce.",
        {
            "notice_id": "SAM.gov noticeId",
            "type": "Notice type",
            "title": "Notice title",
            "posted_date": f"Posted, {ISO_DATE}",
            "award_number": "Award number in the notice",
            "award_amount": f"Amount in the notice, {USD}",
            "awardee_name": "Awardee in the notice",
            "award_key": "The linked award",
            "piid": "Its PIID",
            "recipient_name": "Its recipient",
            "total_obligation": f"Its total obligated, {USD}",
            "notice_url": "The notice on sam.gov",
            "source_url": "The award on usaspending.gov",
        },
    ),
    "coming_up": (
        "The calendar ahead: one row per watched award, kind of date and date, past dates included (filter on "
        "date). Read from the dates the polls keep; no option schedule is published, so the one option date "
        "shown is the current end date of an award that has options left.",
        {
            "award_key": "The award",
            "date_kind": "end (the award ends, no option left by the data: end_date when potential_end_date is "
            "null or not later), next_option (end_date when potential_end_date is later: the next option must be "
            "exercised by then or the award ends), potential_end (potential_end_date when later than end_date or "
            "end_date is null: the end if every option is exercised), last_order (last_date_to_order: the last "
            "day to place orders under a vehicle)",
            "date": f"The date, {ISO_DATE}",
            "piid": "Its PIID",
            "category": "contract or idv",
            "award_type": "Its award type (definitive contract, delivery order, BPA...)",
            "recipient_name": "Its recipient",
            "awarding_subagency": "The awarding component",
            "funding_subagency": "The funding component",
            "description": "The award's description",
            "total_obligation": f"Its total obligated, {USD}",
            "potential_value": f"Its value with all options, {USD}",
            "end_date": f"Its current end date, {ISO_DATE}",
            "potential_end_date": f"Its end date with all options, {ISO_DATE}",
            "last_date_to_order": f"Its last date to order (IDVs), {ISO_DATE}",
            "vendors": "The watched vendors it is tied to, comma-separated (award_vendors)",
            "watches": "The watches that hold it, comma-separated",
            "source_url": "The award on usaspending.gov",
        },
    ),
}

#: Canned queries: the researchers' common questions, with named parameters.
QUERIES: dict[str, dict[str, str]] = {
    "reseller_obligations_by_fy": {
        "title": "Awards that mention a vendor but went to a reseller, with obligations by fiscal year",
        "description": "E.g. every ICE award that mentions Amazon Web Services but was paid to a reseller. "
        "vendor: a key from the vendors table (amazon, palantir, microsoft); agency: part of the awarding "
        "component's name (e.g. Immigration).",
        "sql": """SELECT r.piid, r.recipient_name, r.awarding_subagency,
  (CAST(substr(t.action_date, 1, 4) AS INTEGER) + (CAST(substr(t.action_date, 6, 2) AS INTEGER) >= 10)) AS fiscal_year,
  count(*) AS actions, round(sum(t.obligation), 2) AS obligated, r.description, r.source_url
FROM reseller_awards r JOIN transactions t ON t.award_key = r.award_key
WHERE r.vendor = :vendor AND r.awarding_subagency LIKE '%' || :agency || '%'
GROUP BY r.award_key, fiscal_year ORDER BY r.piid, fiscal_year""",
    },
    "vendor_changes": {
        "title": "Everything that changed for a vendor since a date",
        "description": "New awards, modifications and changed fields for one vendor, newest first. "
        "since: an ISO date, e.g. 2026-08-01.",
        "sql": """SELECT detected_at, kind, piid, recipient_name, awarding_subagency, amount_delta, total_obligation,
  diff, source_url
FROM recent_changes WHERE vendors LIKE '%' || :vendor || '%' AND detected_at >= :since
ORDER BY change_id DESC""",
    },
    "review_queue": {
        "title": "Reseller orders waiting for review",
        "description": "Orders from known resellers to the watched agencies that name no watched vendor or "
        "product, biggest first; decide with `watcher review confirm|dismiss KEY`. status: pending, confirmed "
        "or dismissed.",
        "sql": """SELECT watch, entity_key, piid, recipient_name, awarding_subagency, parent_award_piid,
  total_obligation, description, first_seen_at, decided_by, decided_at, note, source_url
FROM review WHERE status = :status ORDER BY coalesce(total_obligation, 0) DESC""",
    },
    "coming_up": {
        "title": "Coming up: end dates, option dates and last order dates between two dates",
        "description": "The calendar ahead for the watched awards, soonest first. since, until: ISO dates, "
        "e.g. 2026-12-01 and 2027-03-01.",
        "sql": """SELECT date, date_kind, piid, recipient_name, vendors, awarding_subagency, total_obligation,
  potential_value, description, source_url
FROM coming_up WHERE date >= :since AND date <= :until ORDER BY date, piid""",
    },
    "vendor_obligations_by_fy": {
        "title": "Money obligated to a vendor by fiscal year and component",
        "description": "At least this much: the contract actions tied to the vendor, by path (direct, vehicle, "
        "reviewed, reseller).",
        "sql": """SELECT fiscal_year, path, awarding_subagency, awards, transactions, obligated
FROM obligations_by_vendor_fy WHERE vendor = :vendor ORDER BY fiscal_year, path, awarding_subagency""",
    },
}

HIDDEN_PREFIXES = ("_sqlite", "sqlite_")


def documented_objects(db: Database) -> dict[str, list[str]]:
    """Every table and view a user sees (FTS internals excluded), with its columns."""
    out: dict[str, list[str]] = {}
    for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view') ORDER BY name"):
        if name.startswith(HIDDEN_PREFIXES) or "_fts" in name:
            continue
        out[name] = [r[1] for r in db.execute(f"PRAGMA table_info([{name}])")]
    return out


def undocumented(db: Database) -> list[str]:
    """Tables, views and columns the database has but this module does not describe, or vice versa."""
    problems = []
    docs = {**TABLES, **VIEWS}
    actual = documented_objects(db)
    for name, cols in actual.items():
        if name not in docs:
            problems.append(f"{name}: not described")
            continue
        described = docs[name][1]
        problems += [f"{name}.{c}: not described" for c in cols if c not in described]
        problems += [f"{name}.{c}: described but not in the database" for c in described if c not in cols]
    problems += [f"{name}: described but not in the database" for name in docs if name not in actual]
    return problems


def _types(db: Database, name: str) -> dict[str, str]:
    return {r[1]: (r[2] or "").upper() for r in db.execute(f"PRAGMA table_info([{name}])")}


def markdown(db: Database) -> str:
    """The schema reference (docs/schema.md)."""
    lines = [
        "# Database reference",
        "",
        "Generated by `watcher schema` from the schema and `watcher/schema_doc.py`; a test fails if this",
        "file and the code disagree. SQLite in WAL mode: open it read-only while the watcher writes.",
        "",
        "Full-text search: `awards_fts` (piid, recipient_name, parent_name, description), `transactions_fts`",
        "(description) and `notices_fts` (title, awardee_name, solicitation_number), e.g.",
        "",
        "```sql",
        "SELECT a.* FROM awards_fts JOIN awards a ON a.rowid = awards_fts.rowid WHERE awards_fts MATCH 'rekognition'",
        "```",
        "",
    ]
    for section, objects in (("Tables", TABLES), ("Views", VIEWS)):
        lines += [f"## {section}", ""]
        for name, (about, cols) in objects.items():
            types = _types(db, name)
            lines += [f"### `{name}`", "", about, "", "| column | type | meaning |", "|---|---|---|"]
            lines += [f"| `{c}` | {types.get(c, '') or '-'} | {text} |" for c, text in cols.items()]
            lines.append("")
    lines += ["## Canned queries", "", "Also shipped as Datasette canned queries (`watcher ui`).", ""]
    for name, q in QUERIES.items():
        lines += [f"### {q['title']} (`{name}`)", "", q["description"], "", "```sql", q["sql"], "```", ""]
    return "\n".join(lines)


def datasette_metadata(database_name: str = "watcher") -> dict[str, Any]:
    """Datasette metadata: title, licence, sources, descriptions, canned queries."""
    tables: dict[str, Any] = {
        name: {"description": about, "columns": cols} for name, (about, cols) in {**TABLES, **VIEWS}.items()
    }
    return {
        "title": "watcher: DHS procurement for the vendors watchdogs follow",
        "description": "Awards, modifications and changes from USAspending.gov (and SAM.gov when configured) "
        "for ICE, CBP, USCIS and DHS headquarters, with why each award matched.",
        "license": "Public domain (U.S. government data)",
        "license_url": "https://www.usaspending.gov/about",
        "source": "USAspending.gov API v2",
        "source_url": "https://api.usaspending.gov",
        "databases": {database_name: {"tables": tables, "queries": QUERIES}},
    }


def datasette_json(database_name: str = "watcher") -> str:
    return json.dumps(datasette_metadata(database_name), indent=2, sort_keys=True) + "\n"


def render(fmt: str) -> str:
    """``watcher schema --format``: markdown (the database reference), datasette (its metadata) or queries
    (the JSON Schema of queries.yaml, for editors' YAML language server)."""
    if fmt == "datasette":
        return datasette_json()
    if fmt == "queries":
        from watcher.config import QueriesFile

        return json.dumps(QueriesFile.model_json_schema(), indent=2, sort_keys=True) + "\n"
    from watcher.store import open_db

    with tempfile.TemporaryDirectory() as tmp:  # the schema as the code creates it, whatever --db holds
        return markdown(open_db(Path(tmp) / "schema.db"))
