"""Regenerate data/tinytalks.tsv: TinyTalks, the book's own question-and-answer corpus.

About 2,000 short dialogues in seven categories (greetings, facts about a small invented
world, one-digit arithmetic, comparisons of digits, spelling, reversing words, recall of
something said in the question itself), written for a character-level GPT that trains for
about a minute on two CPU cores. Every dialogue formatted as "Q: <question>\\nA: <answer>\\n"
fits in 64 characters, and the held-out questions are answerable from what the training
split teaches (see data/README.md for the design of the splits).

The output is byte-reproducible: the only randomness is a SplitMix64 generator written out
below (Python's `random` and NumPy promise no stable stream across versions), every list is
built in a fixed order (no set or dict iteration over hashed strings decides anything), and
the file is written as ASCII with "\\n" line ends. The sha256 printed at the end is the one
pinned in milestones/datasets.py (TINYTALKS_SHA256).

Usage: python data/make_tinytalks.py [output.tsv]
"""

import hashlib
import sys
from pathlib import Path

SEED = 2017  # the year of "Attention Is All You Need"
OUT = Path(__file__).resolve().parent / "tinytalks.tsv"
MAX_CHARS = 64  # len("Q: " + question + "\nA: " + answer + "\n") for every dialogue
HELD_OUT_FRACTION = 0.2  # per category; split evenly between validation and test
SPLITS = ("train", "validation", "test")
CATEGORIES = ("greeting", "world", "arithmetic", "comparison", "spelling", "reversal", "recall")
HEADER = "split\tcategory\tquestion\tanswer"


# ---------------------------------------------------------------- a PRNG with a fixed stream

class Rng:
    """SplitMix64 (Steele, Lea & Flood 2014): a tiny generator whose stream never changes."""

    MASK = (1 << 64) - 1

    def __init__(self, seed):
        self.state = seed & self.MASK

    def next64(self):
        """The next 64-bit output."""
        self.state = (self.state + 0x9E3779B97F4A7C15) & self.MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & self.MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & self.MASK
        return z ^ (z >> 31)

    def below(self, n):
        """A uniform integer in [0, n), by rejection (no modulo bias)."""
        limit = (1 << 64) - (1 << 64) % n
        while True:
            x = self.next64()
            if x < limit:
                return x % n

    def choice(self, seq):
        """One element of a sequence, uniformly."""
        return seq[self.below(len(seq))]

    def shuffled(self, seq):
        """A new list with the elements of seq in a uniformly random order (Fisher-Yates)."""
        out = list(seq)
        for i in range(len(out) - 1, 0, -1):
            j = self.below(i + 1)
            out[i], out[j] = out[j], out[i]
        return out

    def sample(self, seq, k):
        """k distinct elements of seq in random order."""
        return self.shuffled(seq)[:k]


# ---------------------------------------------------------------- the invented world

# person, pronoun, town, pet, pet's name, favourite colour, job (every job and pet name unique)
WORLD = (
    ("Ada", "she", "Brindle", "cat", "Mochi", "red", "baker"),
    ("Ben", "he", "Dunmoor", "dog", "Rufus", "blue", "farmer"),
    ("Cleo", "she", "Fernvale", "owl", "Pepper", "green", "doctor"),
    ("Dev", "he", "Kestrel", "rabbit", "Otis", "yellow", "teacher"),
    ("Eli", "he", "Mossby", "goat", "Luna", "purple", "pilot"),
    ("Fay", "she", "Tollow", "frog", "Ziggy", "orange", "painter"),
    ("Gus", "he", "Brindle", "parrot", "Nutmeg", "pink", "tailor"),
    ("Hana", "she", "Dunmoor", "hen", "Fudge", "grey", "sailor"),
    ("Ivo", "he", "Fernvale", "pony", "Cosmo", "white", "miner"),
    ("Jun", "she", "Kestrel", "cat", "Tilly", "black", "singer"),
    ("Kit", "he", "Mossby", "dog", "Bramble", "red", "nurse"),
    ("Lola", "she", "Tollow", "owl", "Biscuit", "blue", "potter"),
)
TOWNS = ("Brindle", "Dunmoor", "Fernvale", "Kestrel", "Mossby", "Tollow")
OTHER_TOWNS = ("Ashcombe", "Bexley", "Caldwick", "Harrow", "Lindale", "Westby")
COLOURS = ("red", "blue", "green", "yellow", "purple", "orange", "pink", "grey", "white", "black")
PETS = ("cat", "dog", "owl", "rabbit", "goat", "frog", "parrot", "hen", "pony")
SHORT_ANIMALS = ("cat", "dog", "yak", "hen", "fox", "pig", "cow", "bee", "rat", "ram")
OBJECTS = ("bag", "hat", "car", "kite", "cup", "door")
COUNTABLES = ("apples", "books", "pens", "shoes", "eggs")
WORDS = (
    "cat", "dog", "sun", "hat", "pen", "cup", "box", "bus", "egg", "map",
    "owl", "jam", "red", "sky", "toy", "leg", "net", "pig", "fox", "bed",
    "fish", "tree", "milk", "bird", "cake", "frog", "book", "door", "ship", "star",
    "moon", "rain", "lamp", "ring", "sock", "duck", "kite", "nest", "rock", "wind",
    "apple", "house", "green", "water", "bread", "chair", "plant", "train", "cloud", "horse",
    "smile", "river", "light", "sheep", "stone", "table", "grass", "lemon", "tiger", "music",
)
NAME_CONSONANTS = "bdfgklmnprstvz"
NAME_VOWELS = "aeiou"


def invented_names(rng, count):
    """count distinct made-up four-letter names such as 'Temo' (two consonant-vowel syllables).

    Copying a name seen once is a skill a model can learn; remembering a few names is not
    that skill. So greetings and recall draw their speakers from the 4,898 invented names
    that are not a word of the world (a person, pet, town...).
    """
    taken = {w.lower() for row in WORLD for w in row} | {t.lower() for t in TOWNS}
    pool = []
    for c1 in NAME_CONSONANTS:
        for v1 in NAME_VOWELS:
            for c2 in NAME_CONSONANTS:
                for v2 in NAME_VOWELS:
                    pool.append(c1 + v1 + c2 + v2)
    pool = [n.capitalize() for n in pool if n not in taken]
    return rng.sample(pool, count)


# attribute -> column in WORLD and five phrasings that ask for it
FACT_TEMPLATES = (
    ("town", 2, ("Where does {p} live?", "Where does {p} live now?", "Tell me where {p} lives.",
                 "Which town does {p} live in?", "In what town does {p} live?")),
    ("pet", 3, ("What pet does {p} have?", "What pet does {p} own?", "Tell me what pet {p} has.",
                "Which pet does {p} keep?", "What kind of pet does {p} have?")),
    ("pet name", 4, ("What is {p}'s pet called?", "What is {p}'s pet's name?", "Tell me the name of {p}'s pet.",
                     "What does {p} call the pet?", "What is the name of {p}'s pet?")),
    ("colour", 5, ("What is {p}'s favourite colour?", "What colour does {p} like best?",
                   "Tell me {p}'s favourite colour.", "Which colour does {p} love?", "What colour does {p} love most?")),
    ("job", 6, ("What is {p}'s job?", "What job does {p} do?", "Tell me {p}'s job.",
                "What does {p} do for a living?", "What work does {p} do?")),
)
# inverse facts, three phrasings each: the answer is the person (jobs and pet names are unique)
WHO_TEMPLATES = (
    ("job", 6, ("Who is the {x}?", "Who works as the {x}?", "Which person is the {x}?")),
    ("pet name", 4, ("Whose pet is {x}?", "Who owns {x}?", "Who has a pet called {x}?")),
)


class Item:
    """One dialogue before the split: question, answer, category, and the group it shares facts with.

    Items of one group ask for the same fact in different words (one person's town, one
    sum, one pair of digits, one small-talk reply); the split holds out at most MAX_HELD of
    a group, so a held-out question's fact is always taught by the training split in other
    words. group None: the item needs no such partner (a skill such as copying or spelling).
    """

    __slots__ = ("question", "answer", "category", "group")

    def __init__(self, question, answer, category, group=None):
        self.question, self.answer, self.category, self.group = question, answer, category, group


# ---------------------------------------------------------------- the seven categories

SMALL_TALK = (
    ("How are you?", "I am well, thank you."),
    ("How are you today?", "I am well, thank you."),
    ("How do you do?", "I am well, thank you."),
    ("Thank you.", "You are welcome."),
    ("Thanks a lot.", "You are welcome."),
    ("Thank you very much.", "You are welcome."),
    ("Goodbye.", "Bye, see you soon."),
    ("See you later.", "Bye, see you soon."),
    ("Bye for now.", "Bye, see you soon."),
    ("What is your name?", "I am TinyBot."),
    ("Who are you?", "I am TinyBot."),
    ("What are you called?", "I am TinyBot."),
)
GREETING_NAMES = 60  # per greeting
NAMED_GREETINGS = (
    ("Hello, I am {n}.", "Hello, {n}!"),
    ("Hi, my name is {n}.", "Hi, {n}!"),
    ("Good morning, I am {n}.", "Good morning, {n}!"),
    ("Nice to meet you, I am {n}.", "Nice to meet you, {n}!"),
)


def greetings(rng):
    """Small talk (three phrasings per reply) and greetings that echo the speaker's name."""
    items = [Item(q, a, "greeting", group=("small talk", a)) for q, a in SMALL_TALK]
    for q, a in NAMED_GREETINGS:
        items += [Item(q.format(n=n), a.format(n=n), "greeting") for n in invented_names(rng, GREETING_NAMES)]
    return items


def world(rng):
    """Facts about the twelve people of the invented world, each asked in several phrasings."""
    items = []
    for row in WORLD:
        p = row[0]
        for attribute, column, phrasings in FACT_TEMPLATES:
            items += [Item(t.format(p=p), row[column], "world", group=(p, attribute)) for t in phrasings]
        for attribute, column, phrasings in WHO_TEMPLATES:
            items += [Item(t.format(x=row[column]), p, "world", group=(p, "who", attribute)) for t in phrasings]
    return items


def arithmetic(rng):
    """One-digit sums and differences (never negative), each in three phrasings."""
    items = []
    for a in range(10):
        for b in range(10):
            group = ("+", a, b)
            for q in (f"What is {a} + {b}?", f"Compute {a} + {b}.", f"What is {a} plus {b}?"):
                items.append(Item(q, str(a + b), "arithmetic", group))
    for a in range(10):
        for b in range(a + 1):
            group = ("-", a, b)
            for q in (f"What is {a} - {b}?", f"Compute {a} - {b}.", f"What is {a} minus {b}?"):
                items.append(Item(q, str(a - b), "arithmetic", group))
    return items


def comparisons(rng):
    """Which of two different digits is bigger or smaller, and yes/no 'is a bigger than b'."""
    items = []
    for a in range(10):
        for b in range(10):
            if a == b:
                continue
            group = ("pair", min(a, b), max(a, b))
            items.append(Item(f"Which is bigger, {a} or {b}?", str(max(a, b)), "comparison", group))
            items.append(Item(f"Which is smaller, {a} or {b}?", str(min(a, b)), "comparison", group))
            items.append(Item(f"Is {a} bigger than {b}?", "Yes" if a > b else "No", "comparison", group))
    return items


def spelling(rng):
    """Spell a short word letter by letter, and count its letters."""
    items = []
    for w in WORDS:
        items.append(Item(f"Spell {w}.", "-".join(w), "spelling"))
        items.append(Item(f"How many letters are in {w}?", str(len(w)), "spelling"))
    return items


def reversal(rng):
    """Reverse a word of three or four letters, in two phrasings."""
    items = []
    for w in (w for w in WORDS if len(w) <= 4):
        items.append(Item(f"Reverse {w}.", w[::-1], "reversal"))
        items.append(Item(f"Say {w} backwards.", w[::-1], "reversal"))
    return items


def recall(rng):
    """Answer from the question's own context: a name, a town, a colour, a count, who has what."""
    items = []
    items += [Item(f"My name is {n}. What is my name?", n, "recall") for n in invented_names(rng, 80)]
    items += [Item(f"I am {n}. Who am I?", n, "recall") for n in invented_names(rng, 80)]
    items += [Item(f"I live in {t}. Where do I live?", t, "recall") for t in TOWNS + OTHER_TOWNS]
    for pet, name in zip([rng.choice(PETS) for _ in range(60)], invented_names(rng, 60)):
        items.append(Item(f"My {pet} is {name}. What is my {pet} called?", name, "recall"))
    pairs = [(obj, c) for obj in OBJECTS for c in COLOURS]
    for obj, c in rng.sample(pairs, 40):
        items.append(Item(f"My {obj} is {c}. What colour is my {obj}?", c, "recall"))
    pairs = [(k, thing) for thing in COUNTABLES for k in range(2, 10)]
    for k, thing in rng.sample(pairs, 40):
        items.append(Item(f"I have {k} {thing}. How many {thing} do I have?", str(k), "recall"))
    names = invented_names(rng, 160)
    for i in range(80):
        a, b = names[2 * i], names[2 * i + 1]
        x, y = rng.sample(SHORT_ANIMALS, 2)
        asked, answer = (a, x) if rng.below(2) == 0 else (b, y)
        items.append(Item(f"{a} has a {x}. {b} has a {y}. What does {asked} have?", answer, "recall"))
    names = invented_names(rng, 120)
    for i in range(60):
        a, b = names[2 * i], names[2 * i + 1]
        x, y = rng.sample(range(2, 10), 2)
        asked, answer = (a, x) if rng.below(2) == 0 else (b, y)
        items.append(Item(f"{a} is {x} and {b} is {y}. How old is {asked}?", str(answer), "recall"))
    return items


GENERATORS = (greetings, world, arithmetic, comparisons, spelling, reversal, recall)


# ---------------------------------------------------------------- splits and checks

def format_dialogue(question, answer):
    """The text a model reads and writes: 'Q: <question>\\nA: <answer>\\n'."""
    return f"Q: {question}\nA: {answer}\n"


def check_item(item):
    """Assert one dialogue is printable ASCII, tab-free, non-empty and within MAX_CHARS."""
    for text in (item.question, item.answer):
        assert text and text == text.strip(), repr(text)
        assert all(" " <= ch <= "~" for ch in text), f"not printable ASCII: {text!r}"
    n = len(format_dialogue(item.question, item.answer))
    assert n <= MAX_CHARS, f"{n} > {MAX_CHARS} characters: {item.question!r} -> {item.answer!r}"


def split_category(items, rng, max_held):
    """Hold out HELD_OUT_FRACTION of a category's questions, at most max_held of each group.

    Candidates are visited in a random order and held out until the quota is met, skipping a
    question whose group already has max_held held out, so every held-out fact keeps the
    rest of its group (the same fact in other words) in training. The held-out questions
    alternate between validation and test, so both get the same mix. Returns {split: [item]}.
    """
    quota = round(len(items) * HELD_OUT_FRACTION)
    held_per_group = {}
    held = []
    for item in rng.shuffled(items):
        if len(held) == quota:
            break
        if item.group is not None:
            if held_per_group.get(item.group, 0) >= max_held:
                continue
            held_per_group[item.group] = held_per_group.get(item.group, 0) + 1
        held.append(item)
    assert len(held) == quota, f"{items[0].category}: only {len(held)} of {quota} could be held out"
    held_ids = {id(item) for item in held}
    return {
        "train": [item for item in items if id(item) not in held_ids],
        "validation": held[0::2],
        "test": held[1::2],
    }


# most questions of one group that may be held out (groups have 3 to 6 questions; no limit
# for categories without groups, whose held-out questions test a skill, not a fact)
MAX_HELD = {"greeting": 1, "world": 1, "arithmetic": 1, "comparison": 2,
            "spelling": None, "reversal": None, "recall": None}


def build(seed=SEED):
    """Return {split: [Item]} for the whole corpus, each split shuffled, all checks passed."""
    rng = Rng(seed)
    splits = {name: [] for name in SPLITS}
    for make in GENERATORS:
        items = make(rng)
        for item in items:
            check_item(item)
        category = items[0].category
        parts = split_category(items, rng, MAX_HELD[category])
        for name in SPLITS:
            splits[name] += parts[name]
    questions = [item.question for name in SPLITS for item in splits[name]]
    assert len(questions) == len(set(questions)), "a question appears twice"
    return {name: rng.shuffled(splits[name]) for name in SPLITS}


def tsv_text(splits):
    """The corpus as TSV text: a header, then one 'split, category, question, answer' line per dialogue."""
    lines = [HEADER]
    for name in SPLITS:
        lines += [f"{name}\t{i.category}\t{i.question}\t{i.answer}" for i in splits[name]]
    return "\n".join(lines) + "\n"


def write(path, seed=SEED):
    """Build the corpus and write it to path as ASCII bytes."""
    Path(path).write_bytes(tsv_text(build(seed)).encode("ascii"))


def count_table(splits):
    """Markdown table of questions per category and split (the one in data/README.md)."""
    rows = ["| category | train | validation | test | total |", "|---|---:|---:|---:|---:|"]
    for category in CATEGORIES + ("all",):
        counts = [sum(1 for i in splits[s] if category in ("all", i.category)) for s in SPLITS]
        label = f"**{category}**" if category == "all" else category
        rows.append(f"| {label} | " + " | ".join(str(c) for c in counts) + f" | {sum(counts)} |")
    return "\n".join(rows)


def main(argv):
    """Write the corpus, print its per-category counts, size and sha256."""
    out = Path(argv[1]) if len(argv) > 1 else OUT
    write(out)
    print(count_table(build()))
    print(f"wrote {out} ({out.stat().st_size} bytes)")
    print(f"sha256 {hashlib.sha256(out.read_bytes()).hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
