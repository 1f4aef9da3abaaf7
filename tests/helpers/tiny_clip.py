"""A tiny, randomly initialised CLIP checkpoint built offline, for tests of the real loading path.

It is saved exactly like a hub checkpoint (config, weights, tokenizer, image processor), so
``CLIPModel.from_pretrained(directory)`` and ``AutoProcessor.from_pretrained(directory)`` load it the
same way they would load ``openai/clip-vit-base-patch32``, only in milliseconds and without network.
"""

from __future__ import annotations

import json
from pathlib import Path

IMAGE_SIZE = 32
PATCH_SIZE = 8
MAX_TEXT_LENGTH = 16
PROJECTION_DIM = 16

BOS = "<|startoftext|>"
EOS = "<|endoftext|>"

_CORPUS = [
    "a photo of a cat",
    "a photo of a dog",
    "a picture of a red car on the street",
    "a drawing of a bird sitting in a tree",
    "the quick brown fox jumps over the lazy dog",
    "an image of the number seven written by hand",
    "a blurry photo of a small boat at sea",
    "two people walking on a sunny beach",
    "a close up photo of a flower",
    "digits zero one two three four five six seven eight nine",
]


def _tokenizer():
    """A CLIP-style byte-level BPE (``</w>`` word ends), trained in memory on a few sentences."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import CLIPTokenizerFast

    backend = Tokenizer(models.BPE(unk_token=EOS, continuing_subword_prefix="", end_of_word_suffix="</w>"))
    backend.normalizer = normalizers.Sequence(
        [normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase()]
    )
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(
                Regex(
                    r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""
                ),
                behavior="removed",
                invert=True,
            ),
            pre_tokenizers.ByteLevel(add_prefix_space=False),
        ]
    )
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, end_of_word_suffix="</w>", show_progress=False)
    backend.train_from_iterator(_CORPUS, trainer=trainer)
    # Like the real CLIP vocabulary, hold every byte both inside and at the end of a word, so no input
    # maps to the unknown token (which is also the end token the text tower pools at).
    merges = json.loads(backend.to_str())["model"]["merges"]
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    tokens = [BOS, EOS, *alphabet, *(c + "</w>" for c in alphabet), *("".join(pair) for pair in merges)]
    vocab = {token: i for i, token in enumerate(dict.fromkeys(tokens))}
    backend.model = models.BPE(
        vocab=vocab,
        merges=[tuple(pair) for pair in merges],
        unk_token=EOS,
        continuing_subword_prefix="",
        end_of_word_suffix="</w>",
    )
    backend.add_special_tokens([BOS, EOS])
    backend.post_processor = processors.RobertaProcessing((EOS, vocab[EOS]), (BOS, vocab[BOS]), False, False)
    tokenizer = CLIPTokenizerFast(
        tokenizer_object=backend,
        bos_token=BOS,
        eos_token=EOS,
        unk_token=EOS,
        pad_token=EOS,
        model_max_length=MAX_TEXT_LENGTH,
    )
    return tokenizer


def _image_processor():
    """The CLIP image processor (torchvision backend if installed, else PIL) sized to the tiny model."""
    import importlib.util

    import transformers

    name = "CLIPImageProcessor"
    if importlib.util.find_spec("torchvision") is None and hasattr(transformers, "CLIPImageProcessorPil"):
        name = "CLIPImageProcessorPil"  # what 5.x falls back to anyway, minus the warning
    return getattr(transformers, name)(
        size={"shortest_edge": IMAGE_SIZE},
        crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
    )


def save_tiny_clip(directory: Path) -> Path:
    """Build and save a tiny CLIP (model, tokenizer, image processor) into ``directory``; return it."""
    import torch
    from transformers import CLIPConfig, CLIPModel, CLIPProcessor

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = _tokenizer()
    config = CLIPConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "max_position_embeddings": MAX_TEXT_LENGTH,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": IMAGE_SIZE,
            "patch_size": PATCH_SIZE,
        },
        projection_dim=PROJECTION_DIM,
    )
    torch.manual_seed(0)
    model = CLIPModel(config).eval()
    model.save_pretrained(directory)
    CLIPProcessor(image_processor=_image_processor(), tokenizer=tokenizer).save_pretrained(directory)
    return directory
