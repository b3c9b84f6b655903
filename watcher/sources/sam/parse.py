"""Pure functions that turn SAM.gov JSON (Contract Awards v1, Opportunities v2) into our records.

SAM.gov is loose about types (docs/api/sam.md, traps 1, 10, 11): counts and amounts are strings,
dates mix five formats inside one record, "no value" is null, "", a missing key or the
string "null", and a code/name pair is sometimes a bare string. Everything here reads
defensively and returns the same Award / Transaction shapes as the USAspending side,
under the same keys (ARCHITECTURE.md, Identity), so the two sources merge.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from watcher.errors import ImpossibleAmount, SourceError
from watcher.links import sam_notice, usaspending_award
from watcher.models import Award, Transaction
from watcher.values import plain_text, to_date, to_decimal

NONE = "-NONE-"
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")


def text(value: Any) -> str | None:
    """A stripped string without control or bidi characters (values.plain_text), or None for null, "",
    whitespace and the literal string "null"."""
    if value is None:
        return None
    s = plain_text(str(value)).strip()
    return None if not s or s.lower() == "null" else s


def dig(record: Any, *path: str) -> Any:
    """``record[a][b]...`` or None when any step is missing or not an object."""
    for step in path:
        if not isinstance(record, dict):
            return None
        record = record.get(step)
    return record


def code_name(value: Any) -> tuple[str | None, str | None]:
    """A ``{"code", "name"}`` pair; a bare string counts as the code (GSA's own examples do both)."""
    if isinstance(value, dict):
        return text(value.get("code")), text(value.get("name"))
    return text(value), None


def amount(value: Any) -> Decimal | None:
    """An exact amount from a string like "-7183.74", "$5,000,000.00", or a JSON number."""
    return to_decimal(text(value) if not isinstance(value, Decimal) else value)


def day(value: Any) -> str | None:
    """The ISO date of any SAM date: 2025-02-20T00:00:00Z, 2025-02-20 00:00:00.000, 02/20/2025..."""
    s = text(value)
    if s is None:
        return None
    m = _ISO_DATE.match(s)
    if m:
        return to_date(m.group(0))
    return to_date(s)


def piid(value: Any) -> str | None:
    """A PIID as it appears in keys: upper case, no surrounding spaces."""
    s = text(value)
    return s.upper() if s else None


def loose_piid(value: Any) -> str:
    """A PIID for comparing numbers typed by hand (award notices): no spaces or dashes."""
    return re.sub(r"[\s-]+", "", str(value or "")).upper()


# ---------------------------------------------------------------- Contract Awards: identity


@dataclass(frozen=True)
class ActionId:
    """The FPDS identity of one contract action (docs/api/sam.md 3.7 and 5)."""

    agency: str
    piid: str
    mod: str
    transaction_number: str | None
    parent_agency: str | None
    parent_piid: str | None
    idv: bool

    @property
    def award_key(self) -> str:
        if self.idv:
            return f"CONT_IDV_{self.piid}_{self.agency}".upper()
        return f"CONT_AWD_{self.piid}_{self.agency}_{self.parent_piid or NONE}_{self.parent_agency or NONE}".upper()

    @property
    def transaction_key(self) -> str:
        if self.idv:
            return f"CONT_TX_{self.agency}_{NONE}_{self.piid}_{self.mod}_{NONE}_{NONE}".upper()
        return (
            f"CONT_TX_{self.agency}_{self.parent_agency or NONE}_{self.piid}_{self.mod}_"
            f"{self.parent_piid or NONE}_{self.transaction_number or NONE}"
        ).upper()


def action_id(record: dict[str, Any], *, idv: bool | None = None) -> ActionId:
    """The identity of an ``awardSummary`` item; raises SourceError when it has no PIID or agency."""
    cid = record.get("contractId") if isinstance(record, dict) else None
    if not isinstance(cid, dict):
        raise SourceError(f"a contract action has no contractId section: {json.dumps(record)[:120]}")
    agency = code_name(cid.get("subtier"))[0]
    p = piid(cid.get("piid"))
    if not agency or not p:
        raise SourceError(f"a contract action has no PIID or agency: {json.dumps(cid)[:160]}")
    if idv is None:
        kind = text(dig(record, "coreData", "awardOrIDV"))
        idv = kind is not None and kind.upper() == "IDV"
    parent_piid = piid(cid.get("referencedIDVPiid"))
    return ActionId(
        agency=agency,
        piid=p,
        mod=text(cid.get("modificationNumber")) or "0",
        transaction_number=text(cid.get("transactionNumber")),
        parent_agency=code_name(cid.get("referencedIDVSubtier"))[0] if parent_piid else None,
        parent_piid=parent_piid,
        idv=idv,
    )


def deleted_keys(record: dict[str, Any]) -> list[str]:
    """Transaction keys a deleted record may have: it carries only contractId, so award or IDV is unknown."""
    keys = [action_id(record, idv=False).transaction_key]
    if not text(dig(record, "contractId", "referencedIDVPiid")):
        keys.append(action_id(record, idv=True).transaction_key)
    return keys


# ---------------------------------------------------------------- Contract Awards: records


@dataclass
class Action:
    """One contract action from SAM, normalized: its ids, agencies, and the records it implies."""

    id: ActionId
    award: Award
    transaction: Transaction
    signed: str | None
    last_modified: str | None
    contracting: tuple[str | None, str | None]  # (department code, subtier code)
    funding: tuple[str | None, str | None]


def _agency_name(code: str | None, sam_name: str | None, names: dict[str, str]) -> str | None:
    """USAspending's exact name for an agency code when the seeds know it (so the sources agree), else SAM's."""
    return names.get(code or "", sam_name)


def parse_action(record: dict[str, Any], names: dict[str, str] | None = None) -> Action:
    """An ``awardSummary`` item as an Action; ``names`` maps agency codes to USAspending's names.

    An impossible amount (NaN, infinite, past ``values.MAX_AMOUNT``) refuses the record, naming its award.
    """
    ident = action_id(record)
    try:
        return _parse_action(record, ident, names or {})
    except ImpossibleAmount as exc:
        raise ImpossibleAmount(f"{ident.award_key} mod {ident.mod}: {exc}") from None


def _parse_action(record: dict[str, Any], ident: ActionId, names: dict[str, str]) -> Action:
    org = dig(record, "coreData", "federalOrganization") or {}
    c_dept, c_dept_name = code_name(dig(org, "contractingInformation", "contractingDepartment"))
    c_sub, c_sub_name = code_name(dig(org, "contractingInformation", "contractingSubtier"))
    f_dept, f_dept_name = code_name(dig(org, "fundingInformation", "fundingDepartment"))
    f_sub, f_sub_name = code_name(dig(org, "fundingInformation", "fundingSubtier"))
    details = dig(record, "awardDetails") or {}
    dates = details.get("dates") or {}
    dollars = details.get("dollars") or {}
    totals = details.get("totalContractDollars") or {}
    awardee = details.get("awardeeData") or {}
    header = awardee.get("awardeeHeader") or {}
    uei = awardee.get("awardeeUEIInformation") or {}
    psi = dig(record, "coreData", "productOrServiceInformation") or {}
    naics_list = psi.get("principalNaics")
    naics = naics_list[0] if isinstance(naics_list, list) and naics_list else naics_list
    naics_code, naics_name = code_name(naics)
    psc_code, psc_name = code_name(psi.get("productOrService"))
    award_type = code_name(dig(record, "coreData", "awardOrIDVType"))[1]
    description = text(dig(details, "productOrServiceInformation", "descriptionOfContractRequirement"))
    reason_code, reason_name = code_name(dig(record, "contractId", "reasonForModification"))
    base = ident.mod in ("0", "")
    signed = day(dates.get("dateSigned"))
    last_modified = day(dig(details, "transactionData", "lastModifiedDate"))
    award = Award(
        award_key=ident.award_key,
        piid=ident.piid,
        category="idv" if ident.idv else "contract",
        award_type=award_type,
        recipient_name=text(header.get("awardeeName")) or text(header.get("legalBusinessName")),
        recipient_uei=text(uei.get("uniqueEntityId")),
        parent_name=text(uei.get("awardeeUltimateParentName")),
        parent_uei=text(uei.get("awardeeUltimateParentUniqueEntityId")),
        awarding_agency=_agency_name(c_dept, c_dept_name, names),
        awarding_subagency=_agency_name(c_sub, c_sub_name, names),
        funding_agency=_agency_name(f_dept, f_dept_name, names),
        funding_subagency=_agency_name(f_sub, f_sub_name, names),
        description=description,
        total_obligation=amount(totals.get("totalActionObligation")),
        potential_value=amount(totals.get("totalBaseAndAllOptionsValue")),
        start_date=day(dates.get("periodOfPerformanceStartDate")) if base else None,
        end_date=day(dates.get("currentCompletionDate")),
        potential_end_date=day(dates.get("ultimateCompletionDate")),
        last_date_to_order=day(dates.get("lastDateToOrder")),
        parent_award_piid=ident.parent_piid,
        naics_code=naics_code,
        naics_description=naics_name,
        psc_code=psc_code,
        psc_description=psc_name,
        last_modified_date=last_modified,
        source_url=usaspending_award(ident.award_key),
    )
    tx = Transaction(
        transaction_key=ident.transaction_key,
        award_key=ident.award_key,
        modification_number=ident.mod,
        action_date=signed,
        action_type=reason_code,
        action_type_description=reason_name,
        obligation=amount(dollars.get("actionObligation")),
        description=description,
    )
    return Action(ident, award, tx, signed, last_modified, (c_dept, c_sub), (f_dept, f_sub))


def award_page(payload: Any, what: str) -> tuple[list[dict[str, Any]], int | None]:
    """The rows and totalRecords of one Contract Awards page; errors that arrive as HTTP 200 become SourceError.

    The total is None when SAM.gov sent none (null, missing or "null"): the walk then pages
    on while pages are full instead of trusting a count it does not have.
    """
    if payload is None:  # HTTP 204: nothing matched
        return [], 0
    if isinstance(payload, str):  # e.g. "Max value allowed for parameter \"limit\" is 100"
        raise SourceError(f"{what}: SAM.gov answered with an error: {payload[:300]}")
    if not isinstance(payload, dict):
        raise SourceError(f"{what}: unexpected response ({type(payload).__name__})")
    if "awardSummary" not in payload:
        wrapper = payload.get("awardResponse")
        if isinstance(wrapper, dict) and str(wrapper.get("totalRecords", "0")).strip() in ("0", ""):
            return [], 0  # the other empty-result shape (docs/api/sam.md 2.6)
        message = payload.get("message") or payload.get("error") or json.dumps(payload)[:200]
        raise SourceError(f"{what}: response has no awardSummary: {message}")
    rows = payload.get("awardSummary") or []
    if not isinstance(rows, list):
        raise SourceError(f"{what}: awardSummary is {type(rows).__name__}, not a list")
    return [r for r in rows if isinstance(r, dict)], count(payload.get("totalRecords"), what)


def count(value: Any, what: str) -> int | None:
    """A record count sent as a string ("5691511"), a number, null or the string "null"."""
    s = text(value)
    if s is None:
        return None
    try:
        return int(Decimal(s))
    except ArithmeticError:
        raise SourceError(f"{what}: totalRecords is {value!r}, not a number") from None


# ---------------------------------------------------------------- Opportunities


NOTICE_FIELDS = (
    "type",
    "title",
    "solicitation_number",
    "agency_path",
    "posted_date",
    "award_number",
    "award_amount",
    "award_amount_text",
    "awardee_name",
    "awardee_uei",
    "response_deadline",
    "active",
)


def notice_amount(value: Any) -> tuple[Decimal | None, str | None]:
    """An award notice's ``award.amount`` as (exact amount, None), or (None, the text) when it is no number.

    Contracting officers type this field (docs/api/sam.md 1.6): beside "5000000.00" and
    "$86,271,599.30" come "$1.2M" or "TBD". Such a notice still announces an award, so it is
    kept with its amount unknown and the text as written, never dropped; so is an impossible
    amount ("1e309", "NaN": values.MAX_AMOUNT), which is never stored as a number.
    """
    try:
        exact = amount(value)
    except SourceError:
        exact = None
    else:
        if exact is None or exact.is_finite():
            return exact, None
    return None, text(value)


def parse_notice(record: dict[str, Any]) -> dict[str, Any]:
    """An ``opportunitiesData`` item as a ``notices`` row (without its link to an award)."""
    notice_id = text(record.get("noticeId"))
    if not notice_id:
        raise SourceError(f"a notice has no noticeId: {json.dumps(record)[:120]}")
    award: dict[str, Any] = record["award"] if isinstance(record.get("award"), dict) else {}
    awardee: dict[str, Any] = award["awardee"] if isinstance(award.get("awardee"), dict) else {}
    award_amount, award_amount_text = notice_amount(award.get("amount"))
    row: dict[str, Any] = {
        "notice_id": notice_id,
        "type": text(record.get("type")) or text(record.get("baseType")),
        "title": text(record.get("title")),
        "solicitation_number": text(record.get("solicitationNumber")),
        "agency_path": text(record.get("fullParentPathName"))
        or ".".join(p for p in (text(record.get(k)) for k in ("department", "subTier", "office")) if p)
        or None,
        "agency_code": text(record.get("fullParentPathCode")),
        "posted_date": day(record.get("postedDate")),
        "award_number": text(award.get("number")),
        "award_amount": award_amount,
        "award_amount_text": award_amount_text,
        "awardee_name": text(awardee.get("name")),
        "awardee_uei": text(awardee.get("ueiSAM")),
        "response_deadline": text(record.get("responseDeadLine")),
        "active": text(record.get("active")),
        "source_url": sam_notice(notice_id),
    }
    stable = {k: (str(v) if isinstance(v, Decimal) else v) for k, v in row.items() if k in NOTICE_FIELDS}
    row["fingerprint"] = hashlib.sha1(json.dumps(stable, sort_keys=True).encode(), usedforsecurity=False).hexdigest()
    return row


def no_data_found(content: bytes) -> bool:
    """Whether a 404 body is Opportunities' "No Data found" (an empty search, docs/api/sam.md 1.7), not a failure.

    Only that message counts, wherever the JSON puts it (``{"error": {"message"}}``, ``message`` or
    ``errorMessage``: body shapes are undocumented); an HTML 404, "Description Not Found" or any
    other text stays an error.
    """
    try:
        body = json.loads(content)
    except ValueError:
        return False
    if not isinstance(body, dict):
        return False
    error = body.get("error")
    nested = error.get("message") if isinstance(error, dict) else error
    messages = [nested, body.get("message"), body.get("errorMessage")]
    return any(isinstance(m, str) and m.strip().rstrip(".").lower() == "no data found" for m in messages)


def notice_page(payload: Any, what: str) -> tuple[list[dict[str, Any]], int | None]:
    """The records and totalRecords of one Opportunities page (None when SAM.gov sent no count).

    A None payload is the client's answer to a 404 "No Data found": an empty search, no records.
    """
    if payload is None:
        return [], 0
    if not isinstance(payload, dict):
        raise SourceError(f"{what}: unexpected response ({type(payload).__name__}): {str(payload)[:200]}")
    if "opportunitiesData" not in payload and "totalRecords" not in payload:
        message = payload.get("errorMessage") or payload.get("message") or json.dumps(payload)[:200]
        raise SourceError(f"{what}: response has no opportunitiesData: {message}")
    rows = payload.get("opportunitiesData") or []
    if not isinstance(rows, list):
        raise SourceError(f"{what}: opportunitiesData is {type(rows).__name__}, not a list")
    return [r for r in rows if isinstance(r, dict)], count(payload.get("totalRecords"), what)


def path_codes(agency_code: str | None) -> list[str]:
    """``070.7012.70CDCT`` -> ["070", "7012", "70CDCT"] (department CGAC, subtier, office)."""
    return [p for p in (agency_code or "").split(".") if p]
