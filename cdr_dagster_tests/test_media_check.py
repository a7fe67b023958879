"""``check_media``: Media documents in PostgreSQL, a real ``akamai/media`` folder on disk, the
report through the SMTP server, rsync to a local target (docs/behaviour-notes.md#media-check,
scenarios 31-39).

The files "the publishing push wrote" are made here with Pillow the way cdr-lib's
``Media.get_files`` does, independently of the code under test. No postponed annotations:
Dagster reads type hints.
"""

import io
import os
import shutil
from datetime import datetime
from pathlib import Path

import dagster as dg
import pytest
from lxml import html as lxml_html
from sqlalchemy import insert
from sqlalchemy.engine import Engine

Image = pytest.importorskip("PIL.Image", reason="the media check needs Pillow")

from cdr_dagster.cdr import schema  # noqa: E402
from cdr_dagster.cdr.media import published_media_versions  # noqa: E402
from cdr_dagster.jobs.media_check import CheckMediaConfig, check_media_job  # noqa: E402
from cdr_dagster.media.expected import expected_files  # noqa: E402
from cdr_dagster.resources.akamai import AkamaiResource  # noqa: E402
from cdr_dagster.resources.commands import CommandRunnerResource  # noqa: E402
from cdr_dagster.resources.email import EmailResource  # noqa: E402
from cdr_dagster_tests.cdr_rows import add_group_members, add_version_row  # noqa: E402
from cdr_dagster_tests.queue_fixtures import (  # noqa: E402
    job_resources,
    op_metadata,
)
from cdr_dagster_tests.test_file_sweeper_helpers import listing  # noqa: E402

HAS_RSYNC = shutil.which("rsync") is not None
needs_rsync = pytest.mark.skipif(not HAS_RSYNC, reason="rsync is not installed")


# --- what the publishing push wrote (cdr-lib Media.get_files, re-done here) -----------------


def push_files(doc_id: int, blob: bytes, sound: bool) -> dict[str, bytes]:
    if sound:
        return {f"audio/{doc_id}.mp3": blob}
    image = Image.open(io.BytesIO(blob))
    if image.mode == "P":
        image = image.convert("RGB")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    files = {f"images/{doc_id}.jpg": out.getvalue()}
    for width in (571, 750):
        if width < image.width:
            ratio = image.height / image.width
            scaled = image.resize((width, int(round(width * ratio))), Image.LANCZOS)
            buffer = io.BytesIO()
            scaled.save(buffer, "JPEG", quality=80)
            files[f"images/{doc_id}-{width}.jpg"] = buffer.getvalue()
        else:
            files[f"images/{doc_id}-{width}.jpg"] = out.getvalue()
    return files


def picture(width: int, height: int, fmt: str = "JPEG", mode: str = "RGB") -> bytes:
    image = Image.new(mode, (width, height))
    if mode == "P":
        image.putpalette([i % 256 for i in range(768)])
    for x in range(0, width, 7):
        for y in range(0, height, 5):
            image.putpixel(
                (x, y),
                (x * 3 % 256, y * 5 % 256, (x + y) % 256) if mode == "RGB" else (x + y) % 256,
            )
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def media_xml(encoding: str, sound: bool = False) -> str:
    data = (
        f"<SoundData><SoundEncoding>{encoding}</SoundEncoding></SoundData>"
        if sound
        else f"<ImageData><ImageEncoding>{encoding}</ImageEncoding></ImageData>"
    )
    return f"<Media><MediaTitle>t</MediaTitle><PhysicalMedia>{data}</PhysicalMedia></Media>"


class Repository:
    """Media documents, their versions and blobs, and the pushes that put them on Cancer.gov."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        with engine.begin() as conn:
            self.media_type = conn.execute(
                insert(schema.doc_type)
                .values(name="Media", format=1, created=datetime(2010, 1, 1))
                .returning(schema.doc_type.c.id)
            ).scalar_one()
            self.user = conn.execute(
                insert(schema.usr)
                .values(name="mlee", created=datetime(2010, 1, 1))
                .returning(schema.usr.c.id)
            ).scalar_one()
        self.pushes: set[int] = set()

    def add(
        self,
        doc_id: int,
        blob: bytes,
        *,
        encoding: str = "JPEG",
        sound: bool = False,
        versions: int = 1,
        pushed: int | None = 1,
        push_id: int = 5001,
        published: bool = True,
    ) -> None:
        """A Media document with ``versions`` versions (each its own blob); version ``pushed``
        is on Cancer.gov (pushed by ``push_id``) unless ``published`` is false."""
        xml = media_xml(encoding, sound)
        when = datetime(2024, 1, 1)
        with self.engine.begin() as conn:
            conn.execute(
                insert(schema.all_docs).values(
                    id=doc_id, doc_type=self.media_type, title=f"Media {doc_id}", xml=xml
                )
            )
            for num in range(1, versions + 1):
                add_version_row(
                    conn,
                    doc_id,
                    num,
                    when=when,
                    user=self.user,
                    doc_type=self.media_type,
                    title=f"Media {doc_id}",
                    xml=xml,
                )
                data = blob if num == pushed else blob + f" v{num}".encode()
                blob_id = conn.execute(
                    insert(schema.doc_blob).values(data=data).returning(schema.doc_blob.c.id)
                ).scalar_one()
                conn.execute(
                    insert(schema.version_blob_usage).values(
                        doc_id=doc_id, doc_version=num, blob_id=blob_id
                    )
                )
            if not published:
                return
            if push_id not in self.pushes:
                conn.execute(
                    insert(schema.pub_proc).values(
                        id=push_id,
                        pub_system=178,
                        pub_subset="Push_Documents_To_Cancer.Gov_Export",
                        usr=self.user,
                        output_dir="",
                        started=when,
                        status="Success",
                    )
                )
                self.pushes.add(push_id)
            conn.execute(
                insert(schema.pub_proc_doc).values(
                    pub_proc=push_id, doc_id=doc_id, doc_version=pushed
                )
            )
            conn.execute(insert(schema.pub_proc_cg).values(id=doc_id, pub_proc=push_id, xml=xml))


WIDE = picture(1000, 700)
NARROW = picture(400, 300, "PNG", "P")
SOUND = b"ID3\x03\x00\x00\x00\x00\x00\x0fdemo audio frames"


@pytest.fixture
def repo(cdr_db: Engine) -> Repository:
    add_group_members(cdr_db, "Developers Notification", [("rbaker", "rbaker@example.gov", False)])
    repository = Repository(cdr_db)
    repository.add(100, WIDE, versions=3, pushed=3)
    repository.add(200, NARROW, encoding="PNG")
    repository.add(300, SOUND, encoding="MP3", sound=True)
    return repository


@pytest.fixture
def akamai_dir(tmp_path: Path) -> Path:
    """BASEDIR/akamai/media exactly as the last push left it for the fixture's documents."""
    media = tmp_path / "cdr" / "akamai" / "media"
    for doc_id, blob, sound in ((100, WIDE, False), (200, NARROW, False), (300, SOUND, True)):
        for relative, data in push_files(doc_id, blob, sound).items():
            (media / relative).parent.mkdir(parents=True, exist_ok=True)
            (media / relative).write_bytes(data)
    return media.parent


@pytest.fixture
def target(tmp_path: Path) -> Path:
    return tmp_path / "netstorage" / "media"


@pytest.fixture
def resources(cdr_db: Engine, mailbox, akamai_dir: Path, target: Path) -> dict[str, object]:
    return {
        **job_resources(cdr_db, mailbox, akamai_dir.parent),
        "akamai": AkamaiResource(akamai_dir=str(akamai_dir), local_target=str(target)),
    }


def run(resources, **config):
    return check_media_job.execute_in_process(
        run_config=dg.RunConfig(ops={"check_media_op": CheckMediaConfig(**config)}),
        resources=resources,
        raise_on_error=False,
    )


def report_of(mailbox) -> tuple[list[str], list[tuple[str, str]], str]:
    """Red errors, table rows and the blue rsync line of the one report mail."""
    [mail] = mailbox.messages
    assert mail.message["Subject"] == "[DEV] Media File Check"
    page = lxml_html.document_fromstring(mail.message.get_content())
    errors = [p.text_content() for p in page.xpath("//p[contains(@style, 'color: red')]")]
    blue = " ".join(p.text_content() for p in page.xpath("//p[contains(@style, 'color: blue')]"))
    rows = [tuple(td.text_content() for td in tr.findall("td")) for tr in page.xpath("//tr[td]")]
    return errors, rows, blue


def folders(akamai_dir: Path) -> list[str]:
    return sorted(os.listdir(akamai_dir))


# --- data layer and expected files ----------------------------------------------------------


def test_published_versions_are_the_ones_last_pushed(repo: Repository, cdr_db: Engine) -> None:
    repo.add(400, WIDE, published=False)
    with cdr_db.connect() as conn:
        assert published_media_versions(conn) == [(100, 3), (200, 1), (300, 1)]


def test_narrow_images_reuse_the_full_size_bytes_and_palette_images_become_rgb() -> None:
    files = expected_files(200, "png", NARROW)
    assert [f.path for f in files] == ["images/200.jpg", "images/200-571.jpg", "images/200-750.jpg"]
    assert files[0].data == files[1].data == files[2].data
    assert Image.open(io.BytesIO(files[0].data)).mode == "RGB"
    wide = expected_files(100, "jpg", WIDE)
    assert Image.open(io.BytesIO(wide[1].data)).size == (571, 400)
    assert Image.open(io.BytesIO(wide[2].data)).size == (750, 525)
    assert {f.path: f.data for f in wide} == push_files(100, WIDE, False)


# --- the job --------------------------------------------------------------------------------


def test_a_matching_folder_reports_nothing_and_sends_nothing(
    repo, resources, akamai_dir: Path, mailbox
) -> None:
    before = listing(akamai_dir)
    result = run(resources)
    assert result.success
    assert listing(akamai_dir) == before and folders(akamai_dir) == ["media"]
    metadata = op_metadata(result)
    assert (metadata["documents"], metadata["files_compared"]) == (3, 7)
    assert metadata["added"] == metadata["modified"] == metadata["dropped"] == 0
    assert mailbox.messages == []


def test_added_modified_and_dropped_files_are_reported_and_left_alone_without_fix(
    repo, resources, akamai_dir: Path, mailbox, target: Path
) -> None:
    media = akamai_dir / "media"
    (media / "images" / "100-750.jpg").unlink()
    (media / "images" / "200.jpg").write_bytes(b"not what the push wrote")
    (media / "audio" / "555.mp3").write_bytes(b"withdrawn")
    (media / "images" / "stray.jpg").write_bytes(b"?")
    before = listing(akamai_dir)

    result = run(resources, rsync=True)

    assert listing(akamai_dir) == before and folders(akamai_dir) == ["media"]
    assert not target.exists()
    errors, rows, blue = report_of(mailbox)
    assert rows == [
        ("images/100-750.jpg", "added"),
        ("images/200.jpg", "modified"),
        ("audio/555.mp3", "dropped"),
        ("images/stray.jpg", "dropped"),
    ]
    assert errors == ["Ignoring rsync request for mismatched files"]
    assert blue == ""
    assert not result.success  # the error also fails the run
    assert mailbox.messages[0].rcpt_tos == ["rbaker@example.gov"]


@needs_rsync
def test_fix_and_rsync_correct_a_clone_promote_it_and_push_it(
    repo, resources, akamai_dir: Path, mailbox, target: Path
) -> None:
    media = akamai_dir / "media"
    (media / "images" / "100-750.jpg").unlink()
    (media / "audio" / "555.mp3").write_bytes(b"withdrawn")
    old_set = listing(media)

    result = run(resources, fix=True, rsync=True, recip=["a@x.gov, b@x.gov c@x.gov"])

    assert result.success
    assert folders(akamai_dir) == ["media", "media.old"]
    assert listing(akamai_dir / "media.old") == old_set
    expected = {}
    for doc_id, blob, sound in ((100, WIDE, False), (200, NARROW, False), (300, SOUND, True)):
        expected.update(push_files(doc_id, blob, sound))
    on_disk = {str(p.relative_to(media)): p.read_bytes() for p in media.rglob("*") if p.is_file()}
    assert on_disk == expected
    pushed = {str(p.relative_to(target)): p.read_bytes() for p in target.rglob("*") if p.is_file()}
    assert pushed == expected
    errors, rows, blue = report_of(mailbox)
    assert errors == []
    assert rows == [("images/100-750.jpg", "added"), ("audio/555.mp3", "dropped")]
    working = op_metadata(result)["working_folder"]
    assert Path(working).name.startswith("media-")
    assert blue == f"Ran rsync from {working} to Akamai."
    assert sorted(mailbox.messages[0].rcpt_tos) == ["a@x.gov", "b@x.gov", "c@x.gov"]
    assert op_metadata(result)["promoted"] is True


def test_fix_without_changes_removes_the_clone_and_unlocks(
    repo, resources, akamai_dir: Path, mailbox
) -> None:
    before = listing(akamai_dir)
    result = run(resources, fix=True)
    assert result.success and listing(akamai_dir) == before
    assert folders(akamai_dir) == ["media"] and mailbox.messages == []


def test_a_failure_mid_fix_restores_the_folder_and_removes_the_clone(
    repo, resources, akamai_dir: Path, mailbox
) -> None:
    (akamai_dir / "media" / "images" / "100.jpg").write_bytes(b"changed")  # fixed first ...
    repo.add(900, b"these bytes are no image", encoding="JPEG")  # ... then this one fails
    before = listing(akamai_dir)
    result = run(resources, fix=True, rsync=True)
    assert not result.success
    assert listing(akamai_dir) == before and folders(akamai_dir) == ["media"]
    errors, rows, _ = report_of(mailbox)
    assert len(errors) == 1 and "CDR0000000900 version 1" in errors[0]
    assert rows == []  # as the legacy: a failed check shows no table


@needs_rsync
def test_a_failing_rsync_leaves_the_published_folder_as_it_was(
    repo, resources, akamai_dir: Path, mailbox, tmp_path: Path
) -> None:
    (akamai_dir / "media" / "images" / "100.jpg").unlink()
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where rsync wants a folder")
    resources = dict(resources)
    resources["akamai"] = AkamaiResource(akamai_dir=str(akamai_dir), local_target=str(blocker))
    before = listing(akamai_dir)
    result = run(resources, fix=True, rsync=True)
    assert not result.success
    assert listing(akamai_dir) == before and folders(akamai_dir) == ["media"]
    errors, _, _ = report_of(mailbox)
    assert errors[0].startswith("rsync failure")


def test_a_failing_permission_fix_after_promotion_is_undone(
    repo, resources, akamai_dir: Path, mailbox
) -> None:
    script = akamai_dir.parent / "Bin" / "fix-permissions.sh"
    script.parent.mkdir()
    script.write_text(
        '#!/bin/sh\ncase "$1" in */media) echo "access denied on $1"; exit 3;; esac\n'
    )
    script.chmod(0o755)
    resources = dict(resources)
    resources["akamai"] = AkamaiResource(
        akamai_dir=str(akamai_dir), fix_permissions_script="Bin/fix-permissions.sh"
    )
    (akamai_dir / "media" / "audio" / "300.mp3").write_bytes(b"old audio")
    (akamai_dir / "media.old").mkdir()  # from an earlier promotion: it may go
    before = listing(akamai_dir / "media")
    result = run(resources, fix=True)
    assert not result.success
    assert listing(akamai_dir / "media") == before
    assert folders(akamai_dir) == ["media"]
    errors, _, _ = report_of(mailbox)
    assert "access denied on" in errors[0]


def test_a_folder_locked_by_another_job_is_reported_and_left_locked(
    repo, resources, akamai_dir: Path, mailbox
) -> None:
    os.rename(akamai_dir / "media", akamai_dir / "media.locked")  # a push is running
    before = listing(akamai_dir)
    result = run(resources, fix=True)
    assert not result.success
    assert listing(akamai_dir) == before and folders(akamai_dir) == ["media.locked"]
    errors, rows, _ = report_of(mailbox)
    assert errors == ["The media directory is already locked"] and rows == []


@needs_rsync
def test_force_runs_rsync_without_changes(repo, resources, mailbox, target: Path) -> None:
    result = run(resources, force=True)
    assert result.success
    assert (target / "audio" / "300.mp3").read_bytes() == SOUND
    errors, rows, blue = report_of(mailbox)
    assert errors == [] and rows == []
    assert blue.startswith("Ran rsync from ") and blue.endswith("media.locked to Akamai.")


def test_nolock_works_in_the_published_folder(repo, resources, akamai_dir: Path) -> None:
    result = run(resources, nolock=True)
    assert result.success
    assert op_metadata(result)["working_folder"] == str(akamai_dir / "media")


def test_rsync_to_akamai_is_an_argument_vector_with_a_quoted_ssh_command() -> None:
    resource = AkamaiResource(
        akamai_dir="/cdr/akamai",
        host="cdr.upload.akamai.example",
        ssh_key_file="/etc/akamai pdq-dev",
        extra_ssh_options=["-oHostKeyAlgorithms=+ssh-rsa"],
    )
    assert resource.rsync_command() == [
        "rsync",
        "--delete",
        "-rav",
        "-e",
        "ssh -i '/etc/akamai pdq-dev' -oIdentitiesOnly=yes -oStrictHostKeyChecking=accept-new "
        "-oHostKeyAlgorithms=+ssh-rsa",
        "./",
        "sshacs@cdr.upload.akamai.example:media",
    ]
    strict = AkamaiResource(
        akamai_dir="/cdr/akamai", host="h", ssh_key_file="k", known_hosts_file="/etc/kh"
    )
    assert "-oUserKnownHostsFile=/etc/kh -oStrictHostKeyChecking=yes" in strict.rsync_command()[4]


@needs_rsync
def test_the_seeded_demo_finds_its_missing_and_leftover_files_and_fixes_them(
    tmp_path: Path,
) -> None:
    from cdr_dagster.demo.seed import seed_demo
    from cdr_dagster.resources.cdr_db import CdrDatabaseResource

    demo = tmp_path / "demo"
    seed_demo(demo)
    cdr = CdrDatabaseResource(url=f"sqlite:///{demo / 'cdr.db'}")
    akamai = demo / "cdr" / "akamai"
    resources = {
        "cdr_db": cdr,
        "email": EmailResource(tier="DEV", outbox_dir=str(demo / "outbox"), cdr_db=cdr),
        "akamai": AkamaiResource(akamai_dir=str(akamai), local_target=str(demo / "netstorage")),
        "commands": CommandRunnerResource(basedir=str(demo / "cdr")),
    }
    result = run(resources)
    assert result.success
    metadata = op_metadata(result)
    assert (metadata["added"], metadata["modified"], metadata["dropped"]) == (1, 0, 1)
    assert "| audio/714623.mp3 | added |" in metadata["report"]
    assert "| audio/703000.mp3 | dropped |" in metadata["report"]
    assert len(list((demo / "outbox").glob("*.eml"))) == 1

    result = run(resources, fix=True, rsync=True)
    assert result.success
    assert (akamai / "media" / "audio" / "714623.mp3").exists()
    assert not (akamai / "media" / "audio" / "703000.mp3").exists()
    assert (demo / "netstorage" / "audio" / "714623.mp3").exists()
    again = run(resources)
    assert again.success and op_metadata(again)["added"] == op_metadata(again)["dropped"] == 0
