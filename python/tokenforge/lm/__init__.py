from .byteprob import ByteEnsemble, ByteLM, ByteModel, byte_logprob, next_byte_logprobs, sample_bytes
from .scorer import BigramScorer, Scorer, TransformersScorer, sequence_logprobs
from .trie import TokenTrie
