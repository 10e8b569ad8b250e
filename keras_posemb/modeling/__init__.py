"""What models are built from besides position layers: attention that
takes a family's layer inside, decoder and encoder blocks, token
embeddings, padding masks, pooling and a class token."""

from keras_posemb.modeling.class_token import ClassToken
from keras_posemb.modeling.decoder_block import DecoderBlock
from keras_posemb.modeling.encoder_block import attention_layer_name, transformer_encoder_block
from keras_posemb.modeling.padding_mask import PaddingMask
from keras_posemb.modeling.positional_attention import PositionalAttention
from keras_posemb.modeling.scale import Scale
from keras_posemb.modeling.sequence_pooling import SequencePooling
from keras_posemb.modeling.token_dropout import TokenDropout
from keras_posemb.modeling.token_embedding import TokenEmbedding, check_token_ids

__all__ = [
    "ClassToken",
    "DecoderBlock",
    "PaddingMask",
    "PositionalAttention",
    "Scale",
    "SequencePooling",
    "TokenDropout",
    "TokenEmbedding",
    "attention_layer_name",
    "check_token_ids",
    "transformer_encoder_block",
]
