"""Readers and writers of tokenizer files. They know files, not algorithms: each turns a file into a
:class:`~tokenforge.spec.TokenizerSpec` or a spec into a file."""
