"""The Akamai media check (legacy ``media.Check``), without Dagster.

See docs/behaviour-notes.md#media-check.

- ``expected``: the files a published Media version should produce (``audio/{id}.mp3`` from
  the blob; ``images/{id}.jpg`` and the 571 and 750 pixel widths made with Pillow at the
  publishing push's parameters, so the bytes match what the push wrote);
- ``folders``: the media folders under ``BASEDIR/akamai`` and the rename lock the publishing
  push shares (``media`` -> ``media.locked``), the working clone, promotion and unlocking;
- ``check``: the comparison (``added``, ``modified``, ``dropped``), the optional fix, the rsync
  decision, and the rule that any failure leaves ``media`` as it was, unlocked, with no clone
  left behind;
- ``report``: the legacy report mail (``[TIER] Media File Check``).
"""
