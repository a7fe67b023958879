"""Local stand-ins for the CDR server pages the health and disk-space checks read.

The demo reaches no server beyond this machine. The production health check asks ``cdrping.py``
and the disk-space check asks each tier's ``df.py``; both checks read a ``file://`` address as
the page (``cdr_dagster.cdr.health.local_page``), so the demo points them at files in its
``stand-ins/`` folder: ``cdrping.txt`` says ``CDR OK`` and ``df-<TIER>.txt`` shows drives with
room to spare. The demo is healthy until an operator breaks it on purpose, for example::

    echo "CDR UNAVAILABLE" > .demo/stand-ins/cdrping.txt    # a failure mail within minutes
    echo "CDR OK" > .demo/stand-ins/cdrping.txt             # healthy again
"""

from __future__ import annotations

from pathlib import Path

from cdr_dagster.settings import TIERS

#: What cdrping.py answers when the CDR is healthy.
CDRPING_PAGE = "CDR OK\n"
#: A df.py page with both drives well above the default thresholds (C: 10 GiB, D: 100 GiB).
DF_PAGE = """\
C DRIVE
  TOTAL:  148202582016 (138.0G)
   USED:   59281032806 (55.2G)
   FREE:   88921549210 (82.8G)
D DRIVE
  TOTAL: 1099511627776 (1.0T)
   USED:  439804651110 (409.6G)
   FREE:  659706976666 (614.4G)
"""


def cdrping_file(folder: Path) -> Path:
    """The stand-in of the production cdrping.py page."""
    return folder / "cdrping.txt"


def df_file(folder: Path, tier: str) -> Path:
    """The stand-in of ``tier``'s df.py page."""
    return folder / f"df-{tier}.txt"


def build_stand_ins(folder: Path) -> list[Path]:
    """Write the healthy pages into ``folder``; returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    cdrping_file(folder).write_text(CDRPING_PAGE, encoding="utf-8")
    pages = [cdrping_file(folder)]
    for tier in TIERS:
        df_file(folder, tier).write_text(DF_PAGE, encoding="utf-8")
        pages.append(df_file(folder, tier))
    return pages


def stand_in_environment(folder: Path) -> dict[str, str]:
    """The settings that point the health and disk-space checks at the stand-ins."""
    return {
        "CDR_HEALTH_CHECK_URL": cdrping_file(folder).as_uri(),
        **{f"CDR_DISK_SPACE_URL_{tier}": df_file(folder, tier).as_uri() for tier in TIERS},
    }
