"""Constrained decoding: a CSR trie of valid semantic-ID tuples and beam search over it."""

from genrec.decode.beam import BeamResult, beam_search
from genrec.decode.constraint import ConstraintIndex

__all__ = ["BeamResult", "ConstraintIndex", "beam_search"]
