"""``singularize`` of pattern.en, which chair.py applies to every word of a caption, re-implemented
rule for rule (Pattern cannot be installed here), mistakes included, since they shape CHAIR.
Details: docs/benchmarks.md, "csr_bench/scorers/singularize.py".
"""

from __future__ import annotations

import re
from functools import lru_cache

# Second parts of compounds such as "mothers-in-law", whose first part is the noun.
_PREPOSITIONS = frozenset(
    "about above across after among around at athwart before behind below beneath beside besides between "
    "betwixt beyond but by during except for from in into near of off on onto out over since till to "
    "under until unto upon with".split())

# A word that is the tail of one of these is returned unchanged ("ice" because of "advice").
_UNINFLECTED = tuple(
    "bison bream breeches britches carp chassis christmas clippers cod contretemps corps debris diabetes "
    "djinn eland elk flounder gallows georgia graffiti headquarters herpes high-jinks homework innings "
    "jackanapes mackerel measles mews mumps news pincers pliers proceedings rabies salmon scissors series "
    "shears species swine swiss trout tuna whiting wildebeest".split())
_UNCOUNTABLE = tuple(
    "advice bread butter cheese electricity equipment fruit furniture garbage gravel happiness information "
    "ketchup knowledge love luggage mathematics mayonnaise meat mustard news progress research rice sand "
    "software understanding water".split())

# "-ies" plurals whose singular ends in "-ie" ("collies" -> "collie", not "colly"). Pattern also lists
# "^pie" and "^tie", meant as anchored patterns but compared as plain text, so they never match and
# "ties" becomes "ty"; leaving them out changes nothing.
_IE_WORDS = tuple(
    "algerie auntie beanie birdie bogie bombie bookie collie cookie cutie doggie eyrie freebie goonie "
    "groupie hankie hippie hoagie hottie indie junkie laddie laramie lingerie meanie nightie oldie pixie "
    "quickie reverie rookie softie sortie stoolie sweetie techie toughie valkyrie veggie weenie yuppie "
    "zombie".split())

# Irregular plural endings -> singular endings ("women" ends in "men").
_IRREGULAR = {
    "men": "man", "people": "person", "children": "child", "sexes": "sex", "axes": "axe", "moves": "move",
    "teeth": "tooth", "geese": "goose", "feet": "foot", "zoa": "zoon", "atlantes": "atlas",
    "atlases": "atlas", "beeves": "beef", "brethren": "brother", "corpora": "corpus", "corpuses": "corpus",
    "kine": "cow", "ephemerides": "ephemeris", "ganglia": "ganglion", "genii": "genie", "genera": "genus",
    "graffiti": "graffito", "helves": "helve", "leaves": "leaf", "loaves": "loaf", "monies": "money",
    "mongooses": "mongoose", "mythoi": "mythos", "octopodes": "octopus", "opera": "opus", "opuses": "opus",
    "oxen": "ox", "penes": "penis", "penises": "penis", "soliloquies": "soliloquy", "testes": "testis",
    "trilbys": "trilby", "turves": "turf", "numena": "numen", "occipita": "occiput", "our": "my",
}

# Suffix rules, first match wins. Kept character for character, including pattern's slips such as
# the character class "[octop|vir]" (any word ending in o, c, t, p, v, i, r or "|" plus "i").
_RULES = [(re.compile(pattern), replacement) for pattern, replacement in (
    (r"(?i)(.)ae$", r"\1a"),
    (r"(?i)(.)itis$", r"\1itis"),
    (r"(?i)(.)eaux$", r"\1eau"),
    (r"(?i)(quiz)zes$", r"\1"),
    (r"(?i)(matr)ices$", r"\1ix"),
    (r"(?i)(ap|vert|ind)ices$", r"\1ex"),
    (r"(?i)^(ox)en", r"\1"),
    (r"(?i)(alias|status)es$", r"\1"),
    (r"(?i)([octop|vir])i$", r"\1us"),
    (r"(?i)(cris|ax|test)es$", r"\1is"),
    (r"(?i)(shoe)s$", r"\1"),
    (r"(?i)(o)es$", r"\1"),
    (r"(?i)(bus)es$", r"\1"),
    (r"(?i)([m|l])ice$", r"\1ouse"),
    (r"(?i)(x|ch|ss|sh)es$", r"\1"),
    (r"(?i)(m)ovies$", r"\1ovie"),
    (r"(?i)(.)ombies$", r"\1ombie"),
    (r"(?i)(s)eries$", r"\1eries"),
    (r"(?i)([^aeiouy]|qu)ies$", r"\1y"),
    # -f and -fe nouns with -ves plurals (wolves, lives).
    (r"([aeo]l)ves$", r"\1f"),
    (r"([^d]ea)ves$", r"\1f"),
    (r"arves$", r"arf"),
    (r"erves$", r"erve"),
    (r"([nlw]i)ves$", r"\1fe"),
    (r"(?i)([lr])ves$", r"\1f"),
    (r"([aeo])ves$", r"\1ve"),
    (r"(?i)(sive)s$", r"\1"),
    (r"(?i)(tive)s$", r"\1"),
    (r"(?i)(hive)s$", r"\1"),
    (r"(?i)([^f])ves$", r"\1fe"),
    # -ses plurals.
    (r"(?i)(^analy)ses$", r"\1sis"),
    (r"(?i)((a)naly|(b)a|(d)iagno|(p)arenthe|(p)rogno|(s)ynop|(t)he)ses$", r"\1\2sis"),
    (r"(?i)(.)opses$", r"\1opsis"),
    (r"(?i)(.)yses$", r"\1ysis"),
    (r"(?i)(h|d|r|o|n|b|cl|p)oses$", r"\1ose"),
    (r"(?i)(fruct|gluc|galact|lact|ket|malt|rib|sacchar|cellul)ose$", r"\1ose"),
    (r"(?i)(.)oses$", r"\1osis"),
    # -a plurals.
    (r"(?i)([ti])a$", r"\1um"),
    (r"(?i)(n)ews$", r"\1ews"),
    (r"(?i)s$", ""),
)]


@lru_cache(maxsize=65536)
def singularize(word: str) -> str:
    """The singular of ``word`` as pattern.en.singularize returns it (nouns, default arguments)."""
    if "-" in word:
        parts = word.split("-")
        if parts[1] in _PREPOSITIONS:
            return singularize(parts[0]) + "-" + "-".join(parts[1:])
    if word.endswith("'"):  # dogs' -> dog's
        return singularize(word[:-1]) + "'s"
    lower = word.lower()
    if any(entry.endswith(lower) for entry in _UNINFLECTED + _UNCOUNTABLE):
        return word
    for entry in _IE_WORDS:
        if lower.endswith(entry + "s"):
            return entry
    for plural, singular in _IRREGULAR.items():
        if lower.endswith(plural):
            return re.sub("(?i)" + plural + "$", singular, word)
    for rule, replacement in _RULES:
        if rule.search(word):
            # Groups that took no part in the match are replaced by "" (pattern strips them by hand).
            return rule.sub(replacement, word)
    return word
