"""Atomic writes: an interrupted write leaves the old file whole and no temporary file behind."""

import json

import pytest

from captioner.atomic import atomic_path, write_json, write_text


def test_a_write_interrupted_mid_file_keeps_the_old_file(tmp_path):
    target = tmp_path / "history.json"
    write_json(target, {"epoch": 1})
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            with open(tmp, "w") as handle:
                handle.write('{"epoch": 2, "half')  # half of the new content is on disk ...
                handle.flush()
                raise KeyboardInterrupt  # ... when the run is interrupted
    assert json.loads(target.read_text()) == {"epoch": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.json"]


def test_a_finished_write_replaces_the_file_and_creates_folders(tmp_path):
    target = tmp_path / "a" / "b" / "notes.txt"
    write_text(target, "first")
    write_text(target, "second")
    assert target.read_text() == "second"
    assert [p.name for p in target.parent.iterdir()] == ["notes.txt"]


def test_the_temporary_file_is_beside_the_target(tmp_path):
    with atomic_path(tmp_path / "x.bin") as tmp:
        assert tmp.parent == tmp_path and tmp.name.endswith(".partial")  # same file system: rename is atomic
        tmp.write_bytes(b"1")
    assert (tmp_path / "x.bin").read_bytes() == b"1"


def test_json_is_indented_utf8_with_a_final_newline(tmp_path):
    target = tmp_path / "h.json"
    write_json(target, {"caption": "un café à côté", "n": [1, 2]})
    text = target.read_bytes().decode("utf-8")
    assert text == '{\n  "caption": "un café à côté",\n  "n": [\n    1,\n    2\n  ]\n}\n'
    write_text(target, "ünïcode")
    assert target.read_bytes() == "ünïcode".encode("utf-8")


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_a_new_file_gets_the_umasks_mode_and_a_replaced_one_keeps_its_own(tmp_path, umask):
    import os
    import stat

    from captioner.atomic import current_umask

    old = os.umask(umask)
    try:
        assert current_umask() == umask
        new = tmp_path / "new.txt"
        write_text(new, "x")
        assert stat.S_IMODE(new.stat().st_mode) == 0o666 & ~umask  # not mkstemp's 0600
        photo = tmp_path / "photo.jpg"
        photo.write_bytes(b"old")
        os.chmod(photo, 0o640)
        with atomic_path(photo) as tmp:
            tmp.write_bytes(b"new")
        assert photo.read_bytes() == b"new" and stat.S_IMODE(photo.stat().st_mode) == 0o640
        os.chmod(photo, 0o755)
        write_text(photo, "again")
        assert stat.S_IMODE(photo.stat().st_mode) == 0o755
    finally:
        os.umask(old)
