"""The raw logs' contract (LOG_CONTRACT.md) as names: the fields the join itself reads,
where a logged feature may be read from, and the plausible event times.

Every reader of the logs (the join's parsers, spec inference, the spec's rules) takes
these from here, so the contract is spelled once.
"""

# The top-level fields the join needs on every line (features name the rest).
IMPRESSION_ID = "impression_id"
TS_MS = "ts_ms"
EVENT = "event"  # A detail-page line's event type.
# The impression's id fields the contract names: what a spec's identity reads (the
# default spec's and an inferred one's user, item and request).
USER_ID = "user_id"
ITEM_ID = "item_id"
REQUEST_ID = "request_id"

# Where a logged feature is read: the impression's top-level fields, or a key (at any
# depth) of one of its logged objects.
IMPRESSION_SCOPE = "impression"
LOGGED_OBJECTS = ("user", "item")

# The impression's time: the source of the metadata feature that splits and slices the
# data by day.
IMPRESSION_TIME_SOURCE = f"{IMPRESSION_SCOPE}.{TS_MS}"

# Plausible event times: [2000-01-01, 2100-01-01) UTC, in ms since the epoch. Outside
# is a unit bug upstream.
MIN_TS_MS = 946_684_800_000
MAX_TS_MS = 4_102_444_800_000
