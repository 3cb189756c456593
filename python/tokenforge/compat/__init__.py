"""Drop-in replacements for other tokenizer libraries' APIs, backed by :class:`tokenforge.Tokenizer`.

* :mod:`tokenforge.compat.tiktoken`: the ``tiktoken`` module (``import
  tokenforge.compat.tiktoken as tiktoken``, or :func:`tokenforge.compat.tiktoken.install` to make
  ``import tiktoken`` resolve to it).
* :mod:`tokenforge.compat.transformers`: a ``PreTrainedTokenizerFast`` over a tokenforge tokenizer
  and a model folder's configuration (needs ``transformers``).
"""
