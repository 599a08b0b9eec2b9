"""Regenerate data/tinytales.txt: TinyTales, short stories for character-level language models.

Stories about the people of TinyTalks' invented world (data/make_tinytalks.py), drawn from
a small probabilistic grammar: an opening, a walk somewhere, two to five of twelve events in a random
order, an ending. Facts stay consistent inside a story (Ada's cat is always Mochi, Ada always
lives in Brindle), so a model can learn long-range structure as well as spelling and syntax.

The generator also adds up the information it injects: every choice among n equally likely
options costs ln(n) nats. Every choice leaves its own words in the text, so the story can be
read back into its choices (the text determines the derivation); the sum is then exactly
-ln p(story) under the generator, and the total over the validation stories divided by
their characters is the cross-entropy per character of the generator itself on them: the
floor that no model's validation loss can beat on average (ENTROPY_NATS_PER_CHAR below,
printed at the end and pinned in milestones/datasets.py).

Byte-reproducible like TinyTalks: the same SplitMix64 stream, fixed orders, ASCII, "\\n".
Usage: python data/make_tinytales.py [output.txt]
"""

import hashlib
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_tinytalks import WORLD, Rng  # noqa: E402  (the same world and generator)

SEED = 1948  # the year of Shannon's "A Mathematical Theory of Communication"
STORIES = 400
VALIDATION_STORIES = 40  # the last 40 stories; the first 360 are for training
OUT = Path(__file__).resolve().parent / "tinytales.txt"

WEATHER = ("sunny", "rainy", "windy", "foggy", "cold", "warm")
TIME_OF_DAY = ("morning", "afternoon", "evening")
GO = ("went", "walked", "ran")
PLACES = ("market", "river", "forest", "hill", "harbour", "library", "garden", "meadow", "bridge", "mill")
THINGS = ("basket", "kite", "lantern", "box", "umbrella", "scarf", "drum", "map")
COLOURS = ("red", "blue", "green", "yellow", "purple", "orange", "pink", "grey", "white", "black")
PET_MOVES = ("ran", "jumped", "hid", "crept")
UNDER = ("under", "behind", "into", "over")
OBSTACLES = ("hedge", "cart", "wall", "bush", "fence", "barrel")
QUESTIONS = (
    "Have you seen my {pet}?", "Do you want to play?", "Where are you going?",
    "Is it going to rain?", "Can you help me?", "What is in your bag?",
)
GOODS = ("bread", "apples", "cheese", "honey", "nails", "paint", "rope", "milk")
ADJECTIVES = ("tiny", "shiny", "rusty", "strange", "heavy", "broken")
FINDS = ("key", "coin", "shell", "feather", "bottle", "bell", "stone")
NUMBERS = ("two", "three", "four", "five", "six", "seven", "eight", "nine")
ANIMALS = ("ducks", "sheep", "crows", "goats", "frogs", "bees")
WIND = ("blow", "howl", "sing", "whistle")
FEELINGS = ("tired", "hungry", "sleepy", "proud", "wet", "cold")
FOODS = ("pear", "plum", "bun", "pie", "carrot", "cake")
SONGS = ("the sea", "the moon", "the rain", "old friends", "a lost {pet}", "the stars")
WEATHER_TURN = ("rain", "snow", "hail")
SHELTER = ("waited under a tree", "hid in a doorway", "opened a big umbrella", "sat in a barn")
BIRDS = ("crow", "robin", "swan", "duck", "goose", "magpie")
BIRD_DOES = ("sang", "flew away", "hopped closer", "looked away")


class Teller:
    """Draws choices from the shared Rng and adds up their information in nats."""

    def __init__(self, seed):
        self.rng = Rng(seed)
        self.nats = 0.0

    def pick(self, options):
        """One of the options, uniformly; costs ln(len(options)) nats."""
        self.nats += math.log(len(options))
        return self.rng.choice(options)

    def order(self, options, k):
        """k distinct options in a random order; costs ln(n! / (n - k)!) nats."""
        self.nats += sum(math.log(len(options) - i) for i in range(k))
        return self.rng.sample(options, k)


def story(teller):
    """One story: a paragraph of sentences about a hero from WORLD and a friend."""
    hero = teller.pick(WORLD)
    p, pron, town, pet, pet_name, _, job = hero
    friends = []  # drawn at its first mention, so a story that never names a friend pays nothing for one

    def friend():
        if not friends:
            friends.append(teller.pick(tuple(row for row in WORLD if row is not hero)))
        return friends[0]
    Pron = pron.capitalize()
    openings = (
        f"Once upon a time, in the town of {town}, there lived a {job} called {p}.",
        f"{p} the {job} lived in {town} with a {pet} called {pet_name}.",
        f"In {town} there was a {job} named {p}, who had a {pet} called {pet_name}.",
        f"Long ago, {p} lived in a small house in {town}.",
    )
    sentences = [teller.pick(openings)]
    place = teller.pick(PLACES)
    sentences.append(
        f"One {teller.pick(WEATHER)} {teller.pick(TIME_OF_DAY)}, {p} {teller.pick(GO)} to the {place}."
    )
    events = (
        lambda: f"There {p} met {friend()[0]}, who was carrying a {teller.pick(COLOURS)} {teller.pick(THINGS)}.",
        lambda: (f"{pet_name} the {pet} {teller.pick(PET_MOVES)} {teller.pick(UNDER)} "
                 f"the {teller.pick(OBSTACLES)}."),
        lambda: f"\"Hello, {friend()[0]}!\" said {p}. \"{teller.pick(QUESTIONS).format(pet=pet)}\"",
        lambda: f"{friend()[0]} said, \"I am going home to {friend()[2]} to buy {teller.pick(GOODS)}.\"",
        lambda: f"{Pron} found a {teller.pick(ADJECTIVES)} {teller.pick(FINDS)} near the {place}.",
        lambda: f"{p} counted {teller.pick(NUMBERS)} {teller.pick(ANIMALS)} by the {place}.",
        lambda: f"The sky turned {teller.pick(COLOURS)} and the wind began to {teller.pick(WIND)}.",
        lambda: f"{p} bought a {teller.pick(COLOURS)} {teller.pick(THINGS)} for {teller.pick(NUMBERS)} coins.",
        lambda: f"A {teller.pick(BIRDS)} looked at {p} and {teller.pick(BIRD_DOES)}.",
        lambda: f"{p} sang a song about {teller.pick(SONGS).format(pet=pet)}.",
        lambda: f"{friend()[0]} gave {p} a {teller.pick(FOODS)}, and {pron} said thank you.",
        lambda: (f"Then it began to {teller.pick(WEATHER_TURN)}, so {p} "
                 f"{teller.pick(SHELTER)}."),
    )
    for event in teller.order(events, teller.pick((2, 3, 4, 5))):
        sentences.append(event())
    endings = (
        lambda: f"At last {p} went home to {town}, {teller.pick(FEELINGS)} and happy.",
        lambda: f"That night, {pet_name} slept by the fire, and {p} dreamed of the {place}.",
        lambda: f"{p} smiled. It had been a good day.",
        lambda: f"\"Let us do this again tomorrow,\" said {friend()[0]}, and they both laughed.",
    )
    sentences.append(teller.pick(endings)())
    return " ".join(sentences)


def build(seed=SEED, count=STORIES):
    """Return the stories and the information (nats) the generator put into each."""
    teller = Teller(seed)
    stories, nats = [], []
    for _ in range(count):
        before = teller.nats
        stories.append(story(teller))
        nats.append(teller.nats - before)
    return stories, nats


def corpus_text(stories):
    """The file's text: every story is one line followed by a blank line ("\\n\\n")."""
    return "".join(story + "\n\n" for story in stories)


def entropy_per_char(stories, nats):
    """Nats per character of the validation stories, each with the two newlines that end it.

    The newlines carry no information (a story's last sentence is always one of the
    endings, so where it ends is known), but a model must still predict them.
    """
    val = slice(len(stories) - VALIDATION_STORIES, len(stories))
    chars = sum(len(s) + 2 for s in stories[val])
    return sum(nats[val]) / chars


def main(argv):
    """Write the corpus, print its size, sha256 and the generator's entropy per character."""
    out = Path(argv[1]) if len(argv) > 1 else OUT
    stories, nats = build()
    text = corpus_text(stories)
    assert all(ch == "\n" or " " <= ch <= "~" for ch in text)
    out.write_bytes(text.encode("ascii"))
    print(f"wrote {out} ({out.stat().st_size} bytes, {len(stories)} stories)")
    print(f"sha256 {hashlib.sha256(out.read_bytes()).hexdigest()}")
    print(f"generator entropy on the validation stories: {entropy_per_char(stories, nats):.4f} nats/char")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
