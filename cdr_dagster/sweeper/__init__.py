"""The file sweeper ("Hoover", legacy ``file_sweeper_task.FileSweeper``), without Dagster.

docs/behaviour-notes.md#file-sweeper. The sweeper deletes, archives (tar + bzip2) or left-truncates
files and
folders on a CDR server following the rules of the CDR's ``SweepSpecifications`` document.

- ``spec``: parse and fully validate a ``SweepSpecifications`` document into ``SweepRule``s;
  any problem is an error naming the element, the value and its position, before anything
  is touched;
- ``scan``: find what each rule's ``File`` patterns match, inside the rule's root only, and
  decide what qualifies (ages and sizes, the legacy's "day before" reference time);
- ``archive``: archive names (``makeOutFileName``), and archives written to a temporary file,
  verified by reading them back, then renamed into place (never over an existing file);
- ``actions``: delete, archive-then-delete (only what the verified archive holds, unchanged),
  and left-truncation (the archived head, then the kept tail swapped in atomically);
- ``lock``: the legacy lock file ``LOGDIR/FileSweeper.lockfile``;
- ``sweep``: the whole run, rule by rule, as a ``SweepResult``;
- ``report``: the report (e-mail and Markdown) and the legacy fatal-error message.

Test mode changes nothing at all: it reports what a live run would do (the legacy wrote
``.TEST`` archives and left ``.Truncation`` files behind; we write neither).
"""
