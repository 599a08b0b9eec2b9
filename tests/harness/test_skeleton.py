"""``tito init``'s skeleton: generated from the reference, every stub naming its own module and file."""

from __future__ import annotations

import re

from milestones import readiness, registry, skeleton

STUB = re.compile(r'raise NotImplementedError\("module (\d+) \(([^)]+)\): implement ([\w.]+)"\)')


def test_every_stub_names_the_module_and_the_file_it_sits_in():
    files = skeleton.skeleton_files()
    stubs = 0
    for path, text in files.items():
        owner = registry.module_owning(path)
        for number, named_file, function in STUB.findall(text):
            stubs += 1
            assert (int(number), named_file) == (owner.number, path), (path, function, number, named_file)
        assert text.count(readiness.STUB_MARK) == len(STUB.findall(text)), path
    assert stubs > 100


def test_the_skeleton_keeps_every_file_and_compiles():
    files = skeleton.skeleton_files()
    expected = {path for mod in registry.MODULES for path in mod.files if (registry.BOOK_ROOT / path).exists()}
    assert set(files) == expected
    for path, text in files.items():
        compile(text, path, "exec")


def test_stub_count_counts_what_the_skeleton_stubs():
    files = skeleton.skeleton_files()
    for mod in registry.MODULES:
        for path in mod.files:
            if path in registry.SCAFFOLDING:
                continue
            text = (registry.BOOK_ROOT / path).read_text()
            assert skeleton.stub_count(text) == files[path].count(readiness.STUB_MARK), path
