"""Agency names checked with USAspending before a watch's searches use them.

Names are matched exactly and case-sensitively by the API: a misspelt or renamed
component is not an error there, just zero rows (docs/api/usaspending.md trap 6), so the
watcher asks the autocomplete first and stops the watch on a name it does not know.
"""

from __future__ import annotations

from datetime import timedelta

from sqlite_utils import Database

from watcher import store
from watcher.config import Watch
from watcher.errors import SourceError
from watcher.http import ApiClient
from watcher.sources.usaspending import api as usaspending
from watcher.values import parse_utc

#: How long a confirmed agency name is trusted before it is checked again.
AGENCY_CHECK_DAYS = 7


def check_agencies(db: Database, client: ApiClient, watch: Watch, now: str) -> None:
    """Confirm each agency name with USAspending, at most weekly.

    Names are matched exactly and case-sensitively: "ICE" or a renamed component silently
    returns nothing (docs/api/usaspending.md, trap 6), so an unknown name stops the watch instead.
    """
    since = (parse_utc(now) - timedelta(days=AGENCY_CHECK_DAYS)).isoformat()
    verified = store.agencies_verified_since(db, since.replace("+00:00", "Z"))
    for agency in watch.agencies:
        if (agency.name, agency.tier) in verified:
            continue
        # Each autocomplete lists only agencies with data in its role (trap 23): a component that
        # only funds is unknown to the awarding one, so the watch's other roles are asked in turn.
        names: list[str] = []
        for role in watch.agency_roles:
            names += usaspending.known_agency_names(client, agency.name, agency.tier, role)
            if agency.name in names:
                break
        else:
            close = f"; it knows: {', '.join(repr(n) for n in dict.fromkeys(names[:5]))}" if names else ""
            roles = " or ".join(watch.agency_roles)
            raise SourceError(
                f"USAspending knows no {agency.tier} agency named exactly {agency.name!r} as {roles}{close}"
                " (names are case-sensitive; see seeds/agencies.yaml)"
            )
        store.agency_verified(db, agency.name, agency.tier, now)
