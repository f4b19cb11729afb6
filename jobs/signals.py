"""What jobs tell the layers above them, which jobs must not import.

``job_finished`` is sent inside the transaction that moves jobs to a terminal
state (succeeded, failed, cancelled), once per change that wins: every terminal
change is a conditional UPDATE (jobs/models.py), so a write that is retried, or
two workers racing, send it once. A receiver that writes rows writes them in
the same transaction (they commit or roll back with the job), and one that
starts work outside the database does so with ``transaction.on_commit``.
"""

from __future__ import annotations

from django.dispatch import Signal

# Arguments: ``job_ids`` (the ids of the jobs that just finished, a leader with the
# followers it answered), ``status`` (the JobStatus they finished in).
job_finished = Signal()

# Sent inside the transaction that changes what a job that has already finished spent
# (the tokens a cancelled run had used, recorded once its worker stops): ``job_id``,
# ``before`` and ``after``, each ``(input_tokens, output_tokens, cost)``. A receiver that
# keeps totals of finished jobs moves them by the difference, in that transaction.
job_usage_changed = Signal()
