"""One leaderboard across the four papers: one protocol (:mod:`.protocol`), every method of the book by name
(:mod:`.methods`), the book's own model (:mod:`.ownmodel`), shipped weights (:mod:`.weights`), noise-level
estimation (:mod:`.noise_level`), scoring and timing (:mod:`.evaluate`, :mod:`.analysis`), figures
(:mod:`.figures`) and published reference rows (:mod:`.published`)."""
