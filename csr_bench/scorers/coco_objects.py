"""CHAIR's COCO vocabulary: the synonym list and the double-word rules of chair.py (Rohrbach et al.),
parsed as chair.py parses them, quirks included, since they change scores. Details:
docs/benchmarks.md, "csr_bench/scorers/coco_objects.py".
"""

from __future__ import annotations

SYNONYMS_TEXT = """\
person, girl, boy, man, woman, kid, child, chef, baker, people, adult, rider, children, baby, worker, passenger, sister, biker, policeman, cop, officer, lady, cowboy, bride, groom, male, female, guy, traveler, mother, father, gentleman, pitcher, player, skier, snowboarder, skater, skateboarder, person, woman, guy, foreigner, child, gentleman, caller, offender, coworker, trespasser, patient, politician, soldier, grandchild, serviceman, walker, drinker, doctor, bicyclist, thief, buyer, teenager, student, camper, driver, solider, hunter, shopper, villager
bicycle, bike, bicycle, bike, unicycle, minibike, trike
car, automobile, van, minivan, sedan, suv, hatchback, cab, jeep, coupe, taxicab, limo, taxi
motorcycle, scooter,  motor bike, motor cycle, motorbike, scooter, moped
airplane, jetliner, plane, air plane, monoplane, aircraft, jet, jetliner, airbus, biplane, seaplane
bus, minibus, trolley
train, locomotive, tramway, caboose
truck, pickup, lorry, hauler, firetruck
boat, ship, liner, sailboat, motorboat, dinghy, powerboat, speedboat, canoe, skiff, yacht, kayak, catamaran, pontoon, houseboat, vessel, rowboat, trawler, ferryboat, watercraft, tugboat, schooner, barge, ferry, sailboard, paddleboat, lifeboat, freighter, steamboat, riverboat, battleship, steamship
traffic light, street light, traffic signal, stop light, streetlight, stoplight
fire hydrant, hydrant
stop sign
parking meter
bench, pew
bird, ostrich, owl, seagull, goose, duck, parakeet, falcon, robin, pelican, waterfowl, heron, hummingbird, mallard, finch, pigeon, sparrow, seabird, osprey, blackbird, fowl, shorebird, woodpecker, egret, chickadee, quail, bluebird, kingfisher, buzzard, willet, gull, swan, bluejay, flamingo, cormorant, parrot, loon, gosling, waterbird, pheasant, rooster, sandpiper, crow, raven, turkey, oriole, cowbird, warbler, magpie, peacock, cockatiel, lorikeet, puffin, vulture, condor, macaw, peafowl, cockatoo, songbird
cat, kitten, feline, tabby
dog, puppy, beagle, pup, chihuahua, schnauzer, dachshund, rottweiler, canine, pitbull, collie, pug, terrier, poodle, labrador, doggie, doberman, mutt, doggy, spaniel, bulldog, sheepdog, weimaraner, corgi, cocker, greyhound, retriever, brindle, hound, whippet, husky
horse, colt, pony, racehorse, stallion, equine, mare, foal, palomino, mustang, clydesdale, bronc, bronco
sheep, lamb, ram, lamb, goat, ewe
cow, cattle, oxen, ox, calf, cattle, holstein, heifer, buffalo, bull, zebu, bison
elephant
bear, panda
zebra
giraffe
backpack, knapsack
umbrella
handbag, wallet, purse, briefcase
tie, bow, bow tie
suitcase, suit case, luggage
frisbee
skis, ski
snowboard
sports ball, ball
kite
baseball bat
baseball glove
skateboard
surfboard, longboard, skimboard, shortboard, wakeboard
tennis racket, racket
bottle
wine glass
cup
fork
knife, pocketknife, knive
spoon
bowl, container
banana
apple
sandwich, burger, sub, cheeseburger, hamburger
orange
broccoli
carrot
hot dog
pizza
donut, doughnut, bagel
cake,  cheesecake, cupcake, shortcake, coffeecake, pancake
chair, seat, stool
couch, sofa, recliner, futon, loveseat, settee, chesterfield
potted plant, houseplant
bed
dining table, table, desk
toilet, urinal, commode, toilet, lavatory, potty
tv, monitor, televison, television
laptop, computer, notebook, netbook, lenovo, macbook, laptop computer
mouse
remote
keyboard
cell phone, mobile phone, phone, cellphone, telephone, phon, smartphone, iPhone
microwave
oven, stovetop, stove, stove top oven
toaster
sink
refrigerator, fridge, fridge, freezer
book
clock
vase
scissors
teddy bear, teddybear
hair drier, hairdryer
toothbrush
"""


def _parse_synonyms(text: str) -> dict[str, str]:
    """Every listed word -> its category's node word (the first word of its line)."""
    node_of: dict[str, str] = {}
    for line in text.splitlines():
        words = line.strip().split(", ")
        for word in words:
            node_of[word] = words[0]
    return node_of


# word (as it appears after lower-casing and singularising) -> COCO node word
NODE_WORD: dict[str, str] = _parse_synonyms(SYNONYMS_TEXT)

# The 80 node words, one per COCO category (the instance annotations' category names).
NODE_WORDS: frozenset[str] = frozenset(NODE_WORD.values())


def _double_words() -> dict[str, str]:
    """Two consecutive (singularised) words read as one: COCO's two-word names, and qualifiers that
    would otherwise fire a wrong object ("baby bird" is a bird, not a person)."""
    merged = {pair: pair for pair in (
        "motor bike", "motor cycle", "air plane", "traffic light", "street light", "traffic signal",
        "stop light", "fire hydrant", "stop sign", "parking meter", "suit case", "sports ball",
        "baseball bat", "baseball glove", "tennis racket", "wine glass", "hot dog", "cell phone",
        "mobile phone", "teddy bear", "hair drier", "potted plant", "bow tie", "laptop computer",
        "stove top oven", "home plate", "train track")}
    merged.update(qualified_words())
    return merged


def qualified_words() -> dict[str, str]:
    """Two words chair.py reads as one object that is not their own two-word name: qualifiers that would
    otherwise fire a wrong object ("baby bird" is a bird, not a person), and three fixes. RLHF-V's Object
    HalBench script (scorers/objhal.py) keeps the same ones beside its own list's two-word names."""
    merged = {}
    for animal in ("bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe",
                   "animal", "cub"):
        merged[f"baby {animal}"] = animal
        merged[f"adult {animal}"] = animal
    for vehicle in ("jet", "train"):  # "passenger jet" is a jet, not a person
        merged[f"passenger {vehicle}"] = vehicle
    merged["bow tie"] = "tie"
    merged["toilet seat"] = "toilet"
    merged["wine glas"] = "wine glass"  # pattern.en singularises "glass" to "glas"
    return merged


DOUBLE_WORDS: dict[str, str] = _double_words()
