"""The bounds on what one message can make the parser do (DESIGN invariant 8).

Every parsing step is linear in its input; these caps bound the input of the steps whose
output is stored or whose constant factor is high.  Where a standard sets a limit the cap
is a generous multiple of it; where none does, it is far above what real mail uses.
Anything past a cap is still stored in the blob (downloads are exact); it is only left out
of the parsed model.

``MAX_DEPTH`` = 40
    multipart nesting (RFC 2046 §5.1 sets no limit; real mail nests 3-5 deep).  A deeper
    multipart is kept as one entity with no sub-parts.
``MAX_PARTS`` = 2000
    entities per message (RFC 2046 sets no limit).  Later body parts are dropped.
``MAX_HEADER_FIELDS`` = 1000
    header fields per entity (RFC 5322 §3.6 sets no limit; busy relays add a few dozen
    Received fields).  Later fields are still part of the header section but not parsed.
``MAX_FIELD_OCTETS`` = 65536
    octets of one field value, folding included: 64 lines at the 998-octet limit of
    RFC 5322 §2.1.1 (a long References or To field is a few KiB).  The rest is cut off.
``MAX_HTML_CHARS`` = 2_000_000
    characters of HTML turned into text per message, once for the preview and once for
    the search index (which keeps a million characters of body text anyway).  HTML past
    it is not converted; the part itself is untouched.
``MAX_NON_STARTERS`` = 30
    combining marks in a row before NFC normalisation: the Stream-Safe Text Format of
    Unicode UAX #15 §13 inserts U+034F COMBINING GRAPHEME JOINER after 30 non-starters,
    which keeps normalisation (whose canonical reordering sorts each run) linear.
"""

MAX_DEPTH = 40
MAX_PARTS = 2000
MAX_HEADER_FIELDS = 1000
MAX_FIELD_OCTETS = 65536
MAX_HTML_CHARS = 2_000_000
MAX_NON_STARTERS = 30
