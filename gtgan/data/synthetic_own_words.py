"""Captions of synthetic birds in a person's own words, with the attributes each one means.

The synthetic captions come from a few templates ("a bird with a red breast and blue wings").
People type other things: other grammar ("Red chest. Blue wings."), other words for the
colours (crimson, azure, golden) and for the parts (chest, cap, plumage). These captions use
phrasings and words the templates never produce (a test checks that), so attribute accuracy
on them says how far a model follows text it was not trained on. Values are the synthetic
birds' own attribute values (gtgan.data.synthetic.ATTRIBUTE_VALUES).

`kind` tells the two groups apart: "grammar" keeps the template colour words in new sentence
forms; "synonyms" also replaces the colour and part words.
"""
from __future__ import annotations

from typing import NamedTuple


class OwnWordsCaption(NamedTuple):
    text: str
    attributes: dict[str, str]
    kind: str  # "grammar" | "synonyms"


def _c(text: str, kind: str, **attributes: str) -> OwnWordsCaption:
    return OwnWordsCaption(text, attributes, kind)


OWN_WORDS_CAPTIONS: list[OwnWordsCaption] = [
    # ---- template colour words, other grammar
    _c("Red chest. Blue wings. Yellow head.", "grammar", body="red", wing="blue", crown="yellow"),
    _c("wings: green, belly: white, head: black", "grammar", wing="green", body="white", crown="black"),
    _c("I saw a bird whose wings were orange and whose breast was purple", "grammar",
       wing="orange", body="purple"),
    _c("its head is red, its wings are yellow and its tail is black", "grammar",
       crown="red", wing="yellow", tail="black"),
    _c("blue all over the body, with white wings", "grammar", body="blue", wing="white"),
    _c("the wings of this one are purple; the rest of its body is green", "grammar",
       wing="purple", body="green"),
    _c("black wings, black tail, and an orange belly", "grammar", wing="black", tail="black",
       body="orange"),
    _c("yellow underneath, blue on top of the head, red wings", "grammar", body="yellow",
       crown="blue", wing="red"),
    _c("there is a white bird here, its wings coloured green", "grammar", body="white",
       wing="green"),
    _c("Draw me a bird: purple head, orange wings, sky behind it", "grammar", crown="purple",
       wing="orange", background="sky"),
    _c("bird, red, with wings of blue, sitting in the dark", "grammar", body="red", wing="blue",
       background="dark"),
    _c("green tail and green wings but the breast is yellow", "grammar", tail="green",
       wing="green", body="yellow"),
    _c("Wings in black. Belly in white. Standing on sand.", "grammar", wing="black",
       body="white", background="sand"),
    _c("a bird whose head and tail are both orange, wings blue", "grammar", crown="orange",
       tail="orange", wing="blue"),
    _c("among leaves sits a bird, its chest purple and wings yellow", "grammar",
       background="foliage", body="purple", wing="yellow"),
    _c("one red-winged bird with a green breast", "grammar", wing="red", body="green"),
    _c("Yellow bird. Purple wings. Dark background.", "grammar", body="yellow", wing="purple",
       background="dark"),
    _c("the body's blue, the wings are orange, the head's white", "grammar", body="blue",
       wing="orange", crown="white"),
    # ---- other words for colours and parts
    _c("a crimson-chested bird with azure wings", "synonyms", body="red", wing="blue"),
    _c("scarlet plumage on the underside, emerald flight feathers", "synonyms", body="red",
       wing="green"),
    _c("golden torso, jet-black wingtips and a snowy cap", "synonyms", body="yellow",
       wing="black", crown="white"),
    _c("a violet songbird with lemon pinions", "synonyms", body="purple", wing="yellow"),
    _c("navy feathers on its chest and tangerine wings", "synonyms", body="blue", wing="orange"),
    _c("an ebony hood, ivory underparts and ruby wings", "synonyms", crown="black", body="white",
       wing="red"),
    _c("lime-green pinions over an amber chest", "synonyms", wing="green", body="orange"),
    _c("sapphire underside, lilac wings, perched at night", "synonyms", body="blue",
       wing="purple", background="dark"),
    _c("a cobalt little flier with a sunflower-coloured cap", "synonyms", body="blue",
       crown="yellow"),
    _c("cherry-red wings and a charcoal underside, on a beach", "synonyms", wing="red",
       body="black", background="sand"),
    _c("its chest is the colour of snow and its wings the colour of grass", "synonyms",
       body="white", wing="green"),
    _c("plum-coloured cap, coal-black tail, golden wings", "synonyms", crown="purple",
       tail="black", wing="yellow"),
    _c("a pumpkin-orange songbird with olive wings under an open sky", "synonyms", body="orange",
       wing="green", background="sky"),
    _c("blood-red hood and indigo plumage underneath", "synonyms", crown="red", body="blue"),
    _c("a lavender chest, tawny orange wingtips, in a bush", "synonyms", body="purple",
       wing="orange", background="foliage"),
    _c("a creamy pale underside and crimson pinions", "synonyms", body="white", wing="red"),
    _c("flaxen-yellow torso with inky wings and a rust-coloured rump", "synonyms",
       body="yellow", wing="black", tail="orange"),
    _c("a jade bird whose wings are like the night", "synonyms", body="green", wing="black"),
    _c("turquoise-blue pinions and a magenta-purple cap", "synonyms", wing="blue",
       crown="purple"),
    _c("a chestnut-orange crest, milky wings, amid dense leaves", "synonyms", crown="orange",
       wing="white", background="foliage"),
    _c("ruby tail plumes, sky-blue torso, buttercup hood", "synonyms", tail="red", body="blue",
       crown="yellow"),
    _c("an ash-black breast with canary wingtips on the dunes", "synonyms", body="black",
       wing="yellow", background="sand"),
]
