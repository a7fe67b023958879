"""Bridge to the legacy CDR Scheduler's ``scheduled_job`` table.

- ``cron``: APScheduler ``CronTrigger`` fields <-> five-field cron, exact or refused.
- ``catalogue``: legacy ``job_class`` -> Dagster job and run-config path, legacy option ->
  typed Config field.
- ``importer``: ``cdr-dagster import-schedules EXPORT.json`` prints ``schedules.yaml`` entries.
- ``exporter``: ``cdr-dagster export-schedules`` prints ``schedules.yaml`` as the legacy export.
"""
