"""Tests for the generated text corpora: TinyTalks (dialogues) and TinyTales (stories), offline."""

import collections
import hashlib
import importlib.util
import re
import shutil
import subprocess
import sys

import pytest

from milestones import datasets as ds
from milestones.datasets import DatasetError, Dialogue

DATA = ds.REPO_ROOT / "data"


def load_script(name):
    """Import one of the data/ generator scripts as a module (data/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, DATA / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def talks():
    return ds.load_tinytalks()


def questions(split):
    return [d.question for d in split]


# ---------------------------------------------------------------- TinyTalks: the shipped file

def test_tinytalks_checksum_pinned():
    assert hashlib.sha256(ds.tinytalks_path().read_bytes()).hexdigest() == ds.TINYTALKS_SHA256


def test_tinytalks_types(talks):
    assert isinstance(talks, ds.TinyTalks) and talks._fields == ds.TINYTALKS_SPLITS
    for split in talks:
        assert isinstance(split, tuple) and split
        assert all(isinstance(d, Dialogue) for d in split)
    assert Dialogue._fields == ("question", "answer", "category")


def test_tinytalks_splits_share_no_question(talks):
    train, validation, test = (set(questions(s)) for s in talks)
    assert len(train) == len(talks.train) and len(validation) == len(talks.validation)
    assert len(test) == len(talks.test)
    assert not train & validation and not train & test and not validation & test


def test_tinytalks_dialogues_fit_64_chars_printable_ascii(talks):
    for split in talks:
        for d in split:
            text = ds.format_dialogue(d)
            assert len(text) <= ds.TINYTALKS_MAX_CHARS == 64, text
            assert text == f"Q: {d.question}\nA: {d.answer}\n"
            assert d.question.isascii() and d.question.isprintable(), d
            assert d.answer.isascii() and d.answer.isprintable() and d.answer, d
            assert d.category in ds.TINYTALKS_CATEGORIES


def readme_counts():
    """The per-category count table of data/README.md: {category: (train, validation, test, total)}."""
    rows = re.findall(r"^\| \**(\w+)\** \| (\d+) \| (\d+) \| (\d+) \| (\d+) \|$",
                      (DATA / "README.md").read_text(), flags=re.MULTILINE)
    return {row[0]: tuple(int(n) for n in row[1:]) for row in rows}


def test_tinytalks_counts_match_the_datasheet(talks):
    documented = readme_counts()
    assert set(documented) == set(ds.TINYTALKS_CATEGORIES) | {"all"}
    for category in ds.TINYTALKS_CATEGORIES + ("all",):
        counts = tuple(sum(1 for d in split if category in ("all", d.category)) for split in talks)
        assert documented[category] == (*counts, sum(counts)), category


def test_tinytalks_size_and_held_out_share(talks):
    n = sum(len(s) for s in talks)
    assert 1000 <= n <= 3000
    for category in ds.TINYTALKS_CATEGORIES:
        counts = [sum(1 for d in split if d.category == category) for split in talks]
        total = sum(counts)
        # every category is in every split, about 80 / 10 / 10
        assert all(c > 0 for c in counts), category
        assert abs(counts[1] - 0.1 * total) <= 1 and abs(counts[2] - 0.1 * total) <= 1, (category, counts)


def test_tinytalks_text_concatenates_formatted_dialogues(talks):
    for name, split in zip(ds.TINYTALKS_SPLITS, talks):
        text = ds.tinytalks_text(name)
        assert text == "".join(ds.format_dialogue(d) for d in split)
        assert text.count("\nA: ") == len(split)
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        ds.tinytalks_text("dev")


def test_dialogue_prompt_is_the_formatted_dialogue_minus_the_answer(talks):
    for d in talks.test:
        assert ds.dialogue_prompt(d) + d.answer + "\n" == ds.format_dialogue(d)


def test_tinytalks_answers_are_correct_where_computable(talks):
    """Arithmetic, comparison, spelling and reversal answers follow from the question alone."""
    checked = collections.Counter()
    for d in (d for split in talks for d in split):
        q = d.question
        if d.category == "arithmetic":
            a, op, b = arithmetic_fact(q)
            assert d.answer == str(a + b if op == "+" else a - b), d
        elif m := re.fullmatch(r"Which is (bigger|smaller), (\d) or (\d)\?", q):
            assert d.answer == (max if m[1] == "bigger" else min)(m[2], m[3]), d
        elif m := re.fullmatch(r"Is (\d) bigger than (\d)\?", q):
            assert d.answer == ("Yes" if m[1] > m[2] else "No"), d
        elif m := re.fullmatch(r"Spell (\w+)\.", q):
            assert d.answer == "-".join(m[1]), d
        elif m := re.fullmatch(r"How many letters are in (\w+)\?", q):
            assert d.answer == str(len(m[1])), d
        elif m := re.fullmatch(r"(?:Reverse (\w+)\.|Say (\w+) backwards\.)", q):
            assert d.answer == (m[1] or m[2])[::-1], d
        elif m := re.fullmatch(r"(?:My name is (\w+)\. What is my name|I am (\w+)\. Who am I|"
                                r"I live in (\w+)\. Where do I live|My \w+ is (\w+)\. What (?:colour )?is my \w+(?: called)?|"
                                r"I have (\d) \w+\. How many \w+ do I have)\?", q):
            assert d.answer == next(g for g in m.groups() if g), d
        elif m := re.fullmatch(r"(\w+) (?:has a|is) (\w+)(?:\.| and) (\w+) (?:has a|is) (\w+)\. "
                               r"(?:What does|How old is) (\w+)(?: have)?\?", q):
            assert m[5] in (m[1], m[3]) and d.answer == (m[2] if m[5] == m[1] else m[4]), d
        elif m := re.fullmatch(r"(Hello|Hi|Good morning|Nice to meet you), (?:I am|my name is) (\w+)\.", q):
            assert d.answer == f"{m[1]}, {m[2]}!", d
        else:
            continue
        checked[d.category] += 1
    assert set(checked) == {"greeting", "arithmetic", "comparison", "spelling", "reversal", "recall"}
    recall = sum(1 for split in talks for d in split if d.category == "recall")
    assert checked["recall"] == recall  # every recall template is covered above


def test_tinytalks_held_out_world_facts_are_taught_in_training(talks):
    """Each held-out fact is asked in training, about the same subject, in other words."""
    make = load_script("make_tinytalks")
    held = [d for d in talks.validation + talks.test if d.category == "world"]
    assert held
    for d in held:
        words = set(re.findall(r"[A-Za-z]+", d.question))
        subjects = [w for row in make.WORLD for w in (row[0], row[4], row[6]) if w in words]
        assert len(subjects) == 1, d
        taught = [e for e in talks.train if e.answer == d.answer and subjects[0] in re.findall(r"[A-Za-z]+", e.question)]
        assert len(taught) >= 1, d


def arithmetic_fact(question):
    """(a, op, b) of an arithmetic question in any of its phrasings."""
    m = re.fullmatch(r"(?:What is|Compute) (\d) (\+|plus|-|minus) (\d)[?.]", question)
    return int(m[1]), {"plus": "+", "minus": "-"}.get(m[2], m[2]), int(m[3])


def test_tinytalks_held_out_arithmetic_is_taught_in_other_words(talks):
    train = collections.defaultdict(set)
    for d in talks.train:
        if d.category == "arithmetic":
            train[arithmetic_fact(d.question)].add(d.answer)
    held = [d for d in talks.validation + talks.test if d.category == "arithmetic"]
    assert held
    for d in held:
        assert train[arithmetic_fact(d.question)] == {d.answer}, d


def test_tinytalks_held_out_comparisons_keep_their_pair_in_training(talks):
    pairs = collections.Counter()
    for d in talks.train:
        if d.category == "comparison":
            pairs[tuple(sorted(re.findall(r"\d", d.question)))] += 1
    for d in talks.validation + talks.test:
        if d.category == "comparison":
            assert pairs[tuple(sorted(re.findall(r"\d", d.question)))] >= 4, d


# ---------------------------------------------------------------- TinyTalks: the generator

def test_tinytalks_generator_reproduces_the_shipped_bytes(tmp_path):
    make = load_script("make_tinytalks")
    out = tmp_path / "tinytalks.tsv"
    make.write(out)
    assert out.read_bytes() == ds.tinytalks_path().read_bytes()


def test_tinytalks_generator_ignores_hash_randomization(tmp_path):
    """Two runs in fresh interpreters with different string-hash seeds write the same bytes."""
    outs = []
    for hash_seed in ("1", "2"):
        out = tmp_path / f"talks{hash_seed}.tsv"
        subprocess.run([sys.executable, str(DATA / "make_tinytalks.py"), str(out)], check=True,
                       capture_output=True, env={"PYTHONHASHSEED": hash_seed})
        outs.append(out.read_bytes())
    assert outs[0] == outs[1] == ds.tinytalks_path().read_bytes()


def test_tinytalks_generator_seed_matters(tmp_path):
    make = load_script("make_tinytalks")
    out = tmp_path / "other.tsv"
    make.write(out, seed=make.SEED + 1)
    assert out.read_bytes() != ds.tinytalks_path().read_bytes()


def test_rng_stream_is_pinned():
    """SplitMix64's first outputs for seed 0 (the published reference values)."""
    rng = load_script("make_tinytalks").Rng(0)
    assert [rng.next64() for _ in range(3)] == [
        0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F,
    ]


def test_rng_below_is_uniform_and_in_range():
    rng = load_script("make_tinytalks").Rng(7)
    counts = collections.Counter(rng.below(6) for _ in range(6000))
    assert set(counts) == set(range(6)) and all(850 < c < 1150 for c in counts.values())
    assert sorted(rng.shuffled(range(10))) == list(range(10))


def test_generator_rejects_an_overlong_dialogue():
    make = load_script("make_tinytalks")
    with pytest.raises(AssertionError, match="> 64 characters"):
        make.check_item(make.Item("x" * 55, "abc", "recall"))
    with pytest.raises(AssertionError, match="not printable ASCII"):
        make.check_item(make.Item("caf\u00e9?", "yes", "recall"))


# ---------------------------------------------------------------- TinyTalks: bad files

def test_tinytalks_missing_file(tmp_path):
    missing = tmp_path / "nope.tsv"
    with pytest.raises(DatasetError) as err:
        ds.load_tinytalks(missing)
    msg = str(err.value)
    assert "\n" not in msg and str(missing) in msg and "missing" in msg
    assert "python data/make_tinytalks.py" in msg


def copy_with(tmp_path, edit):
    """Copy the shipped TinyTalks file into tmp_path, apply edit(text) -> text, return the path."""
    path = tmp_path / "tinytalks.tsv"
    shutil.copy(ds.tinytalks_path(), path)
    path.write_bytes(edit(path.read_bytes().decode("ascii")).encode("ascii"))
    return path


def test_tinytalks_corrupt_file_fails_the_checksum(tmp_path):
    path = copy_with(tmp_path, lambda t: t.replace("\t5\n", "\t6\n", 1))
    with pytest.raises(DatasetError) as err:
        ds.load_tinytalks(path)
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg and "corrupt" in msg
    assert ds.TINYTALKS_SHA256 in msg and hashlib.sha256(path.read_bytes()).hexdigest() in msg
    assert "python data/make_tinytalks.py" in msg


def test_tinytalks_truncated_file_fails_the_checksum(tmp_path):
    path = copy_with(tmp_path, lambda t: t[: len(t) // 2])
    with pytest.raises(DatasetError, match="corrupt"):
        ds.load_tinytalks(path)


@pytest.mark.parametrize("edit, problem", [
    (lambda t: t.replace("split\t", "part\t", 1), "wrong header"),
    (lambda t: t[:-1], "no final newline"),
    (lambda t: t.replace("\ntest\t", "\ndev\t", 1), "unknown split 'dev'"),
    (lambda t: t.replace("\tgreeting\t", "\tpoetry\t", 1), "unknown category 'poetry'"),
    (lambda t: t.replace("\tgreeting\t", "\tgreeting\t\t", 1), "5 tab-separated fields"),
    (lambda t: t + t.splitlines()[1] + "\n", "appears twice"),
    (lambda t: t + "test\trecall\t" + "x" * 50 + "\tlong answer\n", "longer than 64"),
])
def test_tinytalks_malformed_lines_are_reported_when_unverified(tmp_path, edit, problem):
    path = copy_with(tmp_path, edit)
    with pytest.raises(DatasetError) as err:
        ds.load_tinytalks(path, sha256=None)
    msg = str(err.value)
    assert problem in msg and str(path) in msg and "\n" not in msg


def test_tinytalks_non_ascii_file(tmp_path):
    path = tmp_path / "tinytalks.tsv"
    path.write_bytes(ds.tinytalks_path().read_bytes().replace(b"Hello", b"H\xc3\xa9llo", 1))
    with pytest.raises(DatasetError, match="not ASCII"):
        ds.load_tinytalks(path, sha256=None)


# ---------------------------------------------------------------- TinyTales (text corpus)

def test_tinytales_checksum_pinned_and_split():
    assert hashlib.sha256(ds.tinytales_path().read_bytes()).hexdigest() == ds.TINYTALES_SHA256
    corpus = ds.load_text_corpus()
    text = ds.tinytales_path().read_text(encoding="ascii")
    assert corpus.train + corpus.validation == text
    assert 50_000 <= len(text) <= 200_000
    assert corpus.train.count("\n\n") == 360 and corpus.validation.count("\n\n") == 40
    assert set(text) <= {chr(c) for c in range(32, 127)} | {"\n"}
    assert not set(corpus.validation.split("\n\n")[:-1]) & set(corpus.train.split("\n\n")[:-1])


def test_tinytales_generator_reproduces_bytes_and_entropy(tmp_path):
    make = load_script("make_tinytales")
    out = tmp_path / "tinytales.txt"
    assert make.main(["make_tinytales.py", str(out)]) == 0
    assert out.read_bytes() == ds.tinytales_path().read_bytes()
    stories, nats = make.build()
    floor = make.entropy_per_char(stories, nats)
    assert round(floor, 4) == ds.TINYTALES_ENTROPY_NATS_PER_CHAR == ds.load_text_corpus().entropy_nats_per_char
    assert 0.05 < floor < 1.0


def test_tinytales_entropy_counts_every_choice():
    """The information of one story is the sum of ln(options) of the choices drawn for it."""
    make = load_script("make_tinytales")
    teller = make.Teller(0)
    teller.pick((1, 2, 3))
    teller.order("abcd", 2)
    assert teller.nats == pytest.approx(2 * __import__("math").log(3) + __import__("math").log(4))


def test_tinytales_stories_keep_world_facts_consistent():
    make = load_script("make_tinytales")
    tt = load_script("make_tinytalks")
    for story in ds.load_text_corpus().train.split("\n\n")[:-1]:
        for person, _, town, pet, pet_name, _, job in tt.WORLD:
            if f"there lived a {job} called {person}." in story or f"{person} the {job} lived in" in story:
                assert town in story
            if f"{person} the {job} lived in {town} with a " in story:
                assert f"with a {pet} called {pet_name}." in story
    assert make.VALIDATION_STORIES == ds.TINYTALES_VALIDATION_STORIES


def test_tinytales_missing_and_corrupt(tmp_path):
    with pytest.raises(DatasetError) as err:
        ds.load_text_corpus(tmp_path / "none.txt")
    assert "\n" not in str(err.value) and "python data/make_tinytales.py" in str(err.value)
    path = tmp_path / "tinytales.txt"
    path.write_bytes(ds.tinytales_path().read_bytes().replace(b"Once", b"Twice", 1))
    with pytest.raises(DatasetError, match="corrupt") as err:
        ds.load_text_corpus(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value)
    path.write_bytes(ds.tinytales_path().read_bytes()[:-1])
    with pytest.raises(DatasetError, match="malformed"):
        ds.load_text_corpus(path, sha256=None)


def test_generator_and_loader_agree_on_the_format():
    make = load_script("make_tinytalks")
    assert make.CATEGORIES == ds.TINYTALKS_CATEGORIES and make.SPLITS == ds.TINYTALKS_SPLITS
    assert make.MAX_CHARS == ds.TINYTALKS_MAX_CHARS and make.HEADER == ds.TINYTALKS_HEADER
    d = Dialogue("What is 2 + 3?", "5", "arithmetic")
    assert make.format_dialogue(d.question, d.answer) == ds.format_dialogue(d)
