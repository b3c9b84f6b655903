"""SQL views for researchers' common questions, (re)created on every open so they never go stale."""

from __future__ import annotations

from sqlite_utils import Database

from watcher import fpds
from watcher.store.coming_up import COMING_UP_SQL

#: A solicitation number compared loosely: upper case, without dashes or spaces ("70CDCR-21-R-0001").
LOOSE_SOLICITATION = "replace(replace(upper(trim({c})), '-', ''), ' ', '')"
_NOT_COMPETED = ", ".join(f"'{c}'" for c in fpds.NOT_COMPETED)

#: The fiscal year of an ISO date: FY2026 runs from 2025-10-01 to 2026-09-30.
FISCAL_YEAR = "(CAST(substr({d}, 1, 4) AS INTEGER) + (CAST(substr({d}, 6, 2) AS INTEGER) >= 10))"

VIEWS: dict[str, str] = {
    "award_vendors": """
        SELECT entity_key AS award_key, vendor,
               group_concat(DISTINCT reason) AS reasons, group_concat(DISTINCT watch) AS watches
        FROM matches WHERE vendor != '' GROUP BY entity_key, vendor
    """,
    "change_fields": """
        SELECT c.id AS change_id, c.detected_at, c.kind, c.source, c.entity_key, c.award_key,
               f.key AS field, json_extract(f.value, '$[0]') AS old_value, json_extract(f.value, '$[1]') AS new_value
        FROM changes c, json_each(c.diff) f
    """,
    "recent_changes": """
        SELECT c.id AS change_id, c.detected_at, c.kind, c.entity_key, c.award_key, a.piid, a.recipient_name,
               (SELECT group_concat(vendor, ', ') FROM award_vendors v WHERE v.award_key = c.award_key) AS vendors,
               a.awarding_subagency, c.amount_delta, a.total_obligation, c.diff, a.source_url
        FROM changes c LEFT JOIN awards a ON a.award_key = c.award_key
        ORDER BY c.id DESC
    """,
    # Money per vendor, path and fiscal year, from the actions tied to each vendor (attributions):
    # a lower bound. An action tied to a vendor by several watches counts once, by its strongest path.
    "vendor_actions": """
        SELECT vendor, transaction_key, min(award_key) AS award_key,
               CASE min(CASE path WHEN 'direct' THEN 1 WHEN 'vehicle' THEN 2 WHEN 'reviewed' THEN 3 ELSE 4 END)
                   WHEN 1 THEN 'direct' WHEN 2 THEN 'vehicle' WHEN 3 THEN 'reviewed' ELSE 'reseller' END AS path
        FROM attributions GROUP BY vendor, transaction_key
    """,
    "tied_actions": """
        SELECT transaction_key,
               CASE min(CASE path WHEN 'direct' THEN 1 WHEN 'vehicle' THEN 2 WHEN 'reviewed' THEN 3 ELSE 4 END)
                   WHEN 1 THEN 'direct' WHEN 2 THEN 'vehicle' WHEN 3 THEN 'reviewed' ELSE 'reseller' END AS path
        FROM attributions GROUP BY transaction_key
    """,
    # Subawards to a vendor (its matches as sub-recipient) under primes whose own actions are not
    # already that vendor's: a dollar of a subaward is also a dollar of its prime, never counted twice.
    "vendor_subawards": """
        SELECT DISTINCT m.vendor, s.subaward_key, s.prime_award_key, s.amount, s.action_date, s.awarding_subagency
        FROM matches m JOIN subawards s ON s.subaward_key = m.entity_key
        WHERE m.vendor != '' AND s.deleted_at IS NULL
          AND NOT EXISTS (SELECT 1 FROM attributions x WHERE x.award_key = s.prime_award_key AND x.vendor = m.vendor)
    """,
    "obligations_by_vendor_fy": f"""
        SELECT v.vendor, v.path, {FISCAL_YEAR.format(d="t.action_date")} AS fiscal_year, a.awarding_subagency,
               count(DISTINCT t.award_key) AS awards, count(*) AS transactions,
               round(sum(t.obligation), 2) AS obligated
        FROM vendor_actions v
        JOIN transactions t ON t.transaction_key = v.transaction_key
        JOIN awards a ON a.award_key = t.award_key
        GROUP BY v.vendor, v.path, fiscal_year, a.awarding_subagency
        UNION ALL
        SELECT vendor, 'subaward', {FISCAL_YEAR.format(d="action_date")}, awarding_subagency,
               count(DISTINCT prime_award_key), count(*), round(sum(amount), 2)
        FROM vendor_subawards GROUP BY vendor, 3, awarding_subagency
    """,
    # The same money for all vendors together: an action tied to two vendors counts once here, and
    # a subaward only under a prime none of whose actions is already counted.
    "obligations_fy": f"""
        SELECT fiscal_year, awarding_subagency, sum(awards) AS awards, sum(transactions) AS transactions,
               round(sum(obligated), 2) AS obligated
        FROM (
            SELECT {FISCAL_YEAR.format(d="t.action_date")} AS fiscal_year, a.awarding_subagency,
                   count(DISTINCT t.award_key) AS awards, count(*) AS transactions, sum(t.obligation) AS obligated
            FROM tied_actions v JOIN transactions t ON t.transaction_key = v.transaction_key
            JOIN awards a ON a.award_key = t.award_key
            GROUP BY 1, 2
            UNION ALL
            SELECT {FISCAL_YEAR.format(d="action_date")}, awarding_subagency, count(DISTINCT prime_award_key),
                   count(*), sum(amount)
            FROM (SELECT DISTINCT subaward_key, prime_award_key, amount, action_date, awarding_subagency
                  FROM vendor_subawards
                  WHERE prime_award_key NOT IN (SELECT award_key FROM attributions))
            GROUP BY 1, 2
        ) GROUP BY fiscal_year, awarding_subagency
    """,
    "reseller_awards": """
        SELECT a.award_key, a.piid, v.vendor, a.recipient_name, a.awarding_subagency, a.total_obligation,
               a.description, m.evidence, a.source_url
        FROM award_vendors v
        JOIN awards a ON a.award_key = v.award_key
        JOIN matches m ON m.entity_key = v.award_key AND m.vendor = v.vendor AND m.reason = 'mention'
        WHERE NOT EXISTS (
            SELECT 1 FROM matches d WHERE d.entity_key = v.award_key AND d.vendor = v.vendor
            AND d.reason IN ('recipient', 'uei', 'parent')
        )
        GROUP BY a.award_key, v.vendor
    """,
    # The flag rules of docs/competition.md (the same as watcher/fpds.py): 1 or 0, never NULL.
    "award_flags": f"""
        SELECT a.award_key, a.piid, a.recipient_name, a.awarding_subagency, a.total_obligation,
               a.potential_value AS ceiling, a.base_exercised_options, a.number_of_offers_received,
               a.extent_competed, a.solicitation_procedures, a.other_than_full_and_open, a.type_set_aside,
               coalesce(a.number_of_offers_received = 1, 0) AS single_offer,
               (upper(coalesce(a.extent_competed, '')) IN ({_NOT_COMPETED})
                OR upper(coalesce(a.solicitation_procedures, '')) = '{fpds.ONLY_ONE_SOURCE}') AS sole_source,
               (coalesce(nullif(upper(trim(a.type_set_aside)), ''), '{fpds.NO_SET_ASIDE}') != '{fpds.NO_SET_ASIDE}'
                AND EXISTS (SELECT 1 FROM matches m WHERE m.entity_key = a.award_key AND m.vendor != ''))
                   AS small_business_set_aside_to_big_tech,
               coalesce(a.potential_value > 0 AND a.total_obligation > {fpds.NEAR_CEILING_SHARE} * a.potential_value, 0)
                   AS near_ceiling,
               a.source_url
        FROM awards a
    """,
    # Notices tied to an award by the award number they announce (notices.award_key, a PIID) or
    # by the solicitation the award came from (awards.solicitation_identifier): one award's
    # solicitation, its justification (J&A) and its award notice on one timeline.
    "award_notices": f"""
        SELECT n.award_key, n.notice_id, n.type, n.title, n.posted_date, n.solicitation_number,
               'award number' AS linked_by, n.source_url AS notice_url
        FROM notices n WHERE n.award_key IS NOT NULL
        UNION
        SELECT a.award_key, n.notice_id, n.type, n.title, n.posted_date, n.solicitation_number,
               'solicitation number', n.source_url
        FROM awards a JOIN notices n
          ON {LOOSE_SOLICITATION.format(c="n.solicitation_number")}
           = {LOOSE_SOLICITATION.format(c="a.solicitation_identifier")}
        WHERE a.solicitation_identifier IS NOT NULL AND trim(a.solicitation_identifier) != ''
          AND (n.award_key IS NULL OR n.award_key != a.award_key)
    """,
    "notice_awards": """
        SELECT n.notice_id, n.type, n.title, n.posted_date, n.award_number, n.award_amount, n.awardee_name,
               a.award_key, a.piid, a.recipient_name, a.total_obligation, n.source_url AS notice_url, a.source_url
        FROM notices n JOIN awards a ON a.award_key = n.award_key
    """,
    # The calendar ahead: one row per watched award, kind of date and date (rules in store/coming_up.py).
    "coming_up": COMING_UP_SQL,
}


def ensure_views(db: Database) -> None:
    """Create every view, replacing older definitions (views hold no data).

    Only when a definition differs: recreating views needs the write lock, and a reader
    (``status``, ``export``) must never wait for a poll in progress.
    """
    current = dict(db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'view'").fetchall())
    if all(current.get(name) == f"CREATE VIEW {name} AS {sql.strip()}" for name, sql in VIEWS.items()):
        return
    with db.atomic():
        for name in reversed(list(VIEWS)):  # dependants first
            db.execute(f"DROP VIEW IF EXISTS {name}")
        for name, sql in VIEWS.items():
            db.execute(f"CREATE VIEW {name} AS {sql.strip()}")
