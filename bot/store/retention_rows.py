"""What retention may delete, the same in both stores."""

from __future__ import annotations

# Finished outbox states, as SQL; both schemas' outbox_finished index has this predicate, so a
# query naming the same list can walk that index.
FINISHED = "('sent', 'superseded', 'undelivered', 'failed')"

# Jobs no replica will run again: kept past the retention age no longer than Slack retries a
# request (seconds), so the age is ample.
FINISHED_JOBS = "('done', 'failed')"
