"""Word folding for the bag-of-words encoder's "synonyms" variant (data.encoder.name=synonyms).

A hashed bag of words knows a word only if training captions used it: "crimson" and "red"
land in unrelated buckets. This table folds common English words for colours, bird parts
and settings onto the words the synthetic captions use, so that text typed in a person's own
words reaches the features the generator learned. It is general vocabulary, not a list of
test captions: it covers what a colour or bird-part thesaurus gives for these concepts.
Limits (docs/demo.md): a word outside the table is still unknown, and folding is per word,
so "sky-blue" gives both "sky" and "blue".
"""
from __future__ import annotations

_GROUPS: dict[str, str] = {
    # colours -> the 8 colour names of the synthetic birds
    "red": "crimson scarlet ruby cherry cardinal vermilion carmine maroon burgundy blood "
           "brick rust rusty reddish ruddy garnet",
    "orange": "tangerine amber pumpkin apricot copper ginger tawny saffron chestnut orangey "
              "orangish marmalade",
    "yellow": "golden gold lemon canary mustard buttercup sunflower sunny flaxen blond blonde "
              "honey yellowish citrine butter",
    "green": "emerald lime olive jade mint sage verdant chartreuse greenish moss mossy pea",
    "blue": "azure navy cobalt sapphire indigo cyan turquoise teal cerulean ultramarine "
            "bluish denim aqua",
    "purple": "violet lilac lavender plum magenta mauve amethyst orchid purplish fuchsia "
              "grape mulberry",
    "black": "jet ebony coal charcoal inky ink raven sable onyx obsidian pitch blackish sooty",
    "white": "snowy snow ivory cream creamy milky pearl pearly alabaster chalk chalky whitish "
             "silver silvery",
    # bird parts -> the part words of the templates
    "breast": "chest chested underside underpart underbelly torso bosom throat bellied",
    "wing": "pinion wingtip winged primaries secondaries",
    "crown": "cap capped hood hooded crest crested scalp",
    "tail": "rump tailfeather plume tailed",
    "bird": "songbird flier flyer birdie fowl avian",
    # settings -> the background words of the templates
    "dark": "night darkness dusk shadow gloom darkened nighttime",
    "sand": "beach dune desert shore",
    "leave": "leaf bush shrub forest branch canopy wood",
    "sky": "air cloud heaven",
}
# Template words are never folded (the synthetic captions keep their vectors' meaning).

SYNONYMS: dict[str, str] = {w: canon for canon, words in _GROUPS.items() for w in words.split()}
SYNONYMS_VERSION = 1  # bump when the table changes: it is part of the encoder's identity
