"""Pure data generation: Brazilian identifiers, vocabularies, rows and bulk COPY text. No I/O."""
