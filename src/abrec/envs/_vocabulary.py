"""Word lists of :class:`~abrec.envs.synthetic.SyntheticCatalog`: attribute values, their synonyms, templates.

Each attribute *group* is a tuple of values; each value is a tuple of surface forms (the first is
its canonical name, the others are synonyms a description may use instead). Descriptions are
built from :data:`TEMPLATES` so that the same attributes read differently from item to item, the
way real catalog copy does.
"""

from __future__ import annotations

Forms = tuple[str, ...]

CATEGORIES: tuple[Forms, ...] = (
    ("blazer", "tailored jacket"),
    ("jeans", "denim trousers"),
    ("sneakers", "trainers"),
    ("dress", "frock"),
    ("t-shirt", "tee"),
    ("hoodie", "hooded sweatshirt"),
    ("boots", "ankle boots"),
    ("scarf", "wrap"),
    ("backpack", "rucksack"),
    ("coat", "overcoat"),
    ("shirt", "button-down shirt"),
    ("skirt", "midi skirt"),
    ("sweater", "jumper", "pullover"),
    ("sandals", "summer sandals"),
    ("handbag", "purse"),
    ("watch", "wristwatch"),
)

BRANDS: tuple[Forms, ...] = (
    ("Northwind",),
    ("Alder & Pine",),
    ("Lumen",),
    ("Kestrel",),
    ("Marlowe",),
    ("Tidewater",),
    ("Ember Row",),
    ("Saltmarsh",),
    ("Vireo",),
    ("Oakhaven",),
    ("Brightline",),
    ("Halden",),
)

COLOURS: tuple[Forms, ...] = (
    ("navy", "navy blue", "dark blue"),
    ("black", "jet black"),
    ("white", "off-white", "ivory"),
    ("red", "bright red", "scarlet"),
    ("olive", "olive green", "khaki green"),
    ("beige", "sand", "camel"),
    ("grey", "gray", "charcoal"),
    ("burgundy", "wine red", "maroon"),
    ("mustard", "mustard yellow", "ochre"),
    ("teal", "blue-green"),
    ("pink", "blush pink", "rose"),
    ("brown", "chocolate brown", "tan"),
)

MATERIALS: tuple[Forms, ...] = (
    ("cotton", "organic cotton"),
    ("wool", "merino wool"),
    ("leather", "full-grain leather"),
    ("denim",),
    ("linen",),
    ("silk",),
    ("cashmere",),
    ("polyester", "recycled polyester"),
)

STYLES: tuple[Forms, ...] = (
    ("classic", "timeless"),
    ("sporty", "athletic"),
    ("minimalist", "clean-lined"),
    ("bohemian", "boho"),
    ("streetwear", "urban"),
    ("vintage", "retro"),
    ("elegant", "refined"),
    ("casual", "relaxed"),
)

PATTERNS: tuple[Forms, ...] = (
    ("plain", "solid-colour"),
    ("striped", "pinstriped"),
    ("checked", "plaid"),
    ("floral", "flower-print"),
    ("polka-dot", "dotted"),
    ("camouflage", "camo-print"),
)

#: Price bands: (words, (lowest, highest) price in currency units).
PRICE_BANDS: tuple[tuple[Forms, tuple[float, float]], ...] = (
    (("budget", "affordable", "bargain"), (8.0, 25.0)),
    (("mid-range", "moderately priced", "reasonably priced"), (25.0, 70.0)),
    (("premium", "upscale"), (70.0, 180.0)),
    (("luxury", "high-end", "designer"), (180.0, 500.0)),
)

#: Review phrases, from the best-rated tier to the worst (the text's noisy view of an item's quality).
REVIEWS: tuple[Forms, ...] = (
    ("A bestseller with glowing reviews.", "Customers love it: rated 5 stars.", "A customer favourite."),
    ("Highly rated by customers.", "Rated 4.5 stars.", "Very well reviewed."),
    ("Well reviewed.", "Rated 4 stars.", "Solid reviews."),
    ("Mixed reviews.", "Rated 3 stars.", "Customers are divided."),
    ("Poor reviews.", "Rated 2 stars.", "Often returned by customers."),
)

NEW_ARRIVAL: Forms = ("New arrival, no reviews yet.", "Just in: new this season.", "Newly added to the catalog.")

#: Description templates; fields: colour, material, category, brand, style, pattern, price, cost,
#: reviews; a capitalised field name (``{Style}``) capitalises the word.
TEMPLATES: tuple[str, ...] = (
    "{Pattern} {colour} {material} {category} by {brand}, {style} style, {price} price. {reviews}",
    "{brand}'s {style} {category} in {colour} {material} with a {pattern} look. {Price}, at {cost}. {reviews}",
    "{Style} {pattern} {category} from {brand}: {material}, {colour}, {price}. {reviews}",
    "This {colour} {category} by {brand} is made of {material}; {pattern}, {style} and {price}. {reviews}",
    "{brand} {category}, {colour}, {material}. {Style} and {pattern}, {price} at {cost}. {reviews}",
)

#: The attribute groups in the order of the item vector's blocks.
GROUPS: tuple[tuple[str, tuple[Forms, ...]], ...] = (
    ("category", CATEGORIES),
    ("brand", BRANDS),
    ("colour", COLOURS),
    ("material", MATERIALS),
    ("style", STYLES),
    ("pattern", PATTERNS),
)
