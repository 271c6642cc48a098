"""all-MiniLM-L6-v2's tokenizer (Apache-2.0, sentence-transformers), read by db/guard_encoder.py."""
