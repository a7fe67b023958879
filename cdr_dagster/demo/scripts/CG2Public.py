"""Demo stand-in for ``Publishing/CG2Public.py``: make the partners' copy of a weekly export.

Usage: ``python CG2Public.py --test|--live --export [--inputdir=JobN]``. Takes the newest
successful ``Export`` job (or ``--inputdir``), and copies its ``BASEDIR/Output/Job{N}`` tree to
``BASEDIR/Output/LicenseeDocs/Job{N}`` (``LicenseeDocs/Test/Job{N}`` in test mode), renaming an
existing copy with a time stamp first, as the CDR script does. The vendor filter and DTD
validation of the real script are not part of the demo.
"""

from __future__ import annotations

import argparse
import shutil
import sys

from cdr_demo import basedir, engine, fail, log, now
from sqlalchemy import text


def main(argv: list[str]) -> int:
    """Copy the export; returns the exit status."""
    parser = argparse.ArgumentParser(prog="CG2Public.py")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--test", action="store_true")
    mode.add_argument("--live", action="store_true")
    parser.add_argument("--export", action="store_true")
    parser.add_argument("--inputdir")
    args = parser.parse_args(argv)
    if args.inputdir:
        job_dir = args.inputdir
    else:
        with engine().connect() as conn:
            job_id = conn.execute(
                text(
                    "SELECT MAX(id) FROM pub_proc "
                    "WHERE pub_subset = 'Export' AND status = 'Success'"
                )
            ).scalar_one()
        if job_id is None:
            fail("no successful Export job", 1)
        job_dir = f"Job{job_id}"
    source = basedir() / "Output" / job_dir
    if not source.is_dir():
        fail(f"export output {source} not found", 1)
    partners = basedir() / "Output" / "LicenseeDocs"
    target = (partners / "Test" if args.test else partners) / job_dir
    if target.exists():
        target.rename(target.with_name(f"{target.name}-{now():%Y%m%d%H%M%S}"))
    shutil.copytree(source, target)
    count = sum(1 for p in target.rglob("*.xml"))
    log(f"copied {count} documents from {source} to {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
