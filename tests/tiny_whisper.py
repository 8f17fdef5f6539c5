"""A tiny, randomly initialised Whisper in the layout of faster-whisper-large-v3 (CTranslate2
directory, 128 mel bins, multilingual vocabulary of 51,866 tokens, tokenizer.json and
preprocessor_config.json beside the weights), built here without any hub."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

TEXT_VOCAB = 50_257  # GPT-2's size, as in Whisper
WORDS = ("um", "uh", "like", "so", "you", "know", "ask", "not", "what", "country")


def whisper_tokenizer():
    """A byte-level BPE whose ids follow Whisper's layout: text tokens first (every id below
    <|endoftext|>), then the special tokens in Whisper's order, the timestamps right after
    <|notimestamps|> (faster-whisper computes timestamp ids as <|notimestamps|> + 1).

    The text tokens are whole words with a leading space ("Ġw123"), so that random output
    decodes into many space-separated words, as real transcripts do; no merges are needed for
    decoding, and any string still encodes through the byte alphabet. The last text token is
    the empty string, as in Whisper's multilingual vocabulary: CTranslate2 (4.8) calls a model
    multilingual when its vocabulary holds "" (not by vocabulary size)."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
    from transformers.models.whisper.tokenization_whisper import LANGUAGES

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    words = [f"Ġ{w}" for w in WORDS]
    words += [f"Ġw{i}" for i in range(TEXT_VOCAB - len(alphabet) - len(words) - 1)]
    vocab = {token: i for i, token in enumerate([*alphabet, *words, ""])}
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|startoftranscript|>", *(f"<|{code}|>" for code in LANGUAGES)]
    specials += ["<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nospeech|>"]
    specials += ["<|notimestamps|>", *(f"<|{i * 0.02:.2f}|>" for i in range(1501))]
    tokenizer.add_special_tokens([AddedToken(token, special=True, normalized=False) for token in specials])
    return tokenizer


def write_tiny_whisper(target: Path) -> Path:
    """The CTranslate2 model directory at `target`, as `Systran/faster-whisper-large-v3` lays it out."""
    import torch
    from ctranslate2.converters import TransformersConverter
    from transformers import GenerationConfig, PreTrainedTokenizerFast, WhisperConfig, WhisperFeatureExtractor
    from transformers import WhisperForConditionalGeneration
    from transformers.models.whisper.tokenization_whisper import LANGUAGES

    tokenizer = whisper_tokenizer()
    ids = tokenizer.token_to_id
    eot = ids("<|endoftext|>")
    config = WhisperConfig(
        vocab_size=tokenizer.get_vocab_size(),
        num_mel_bins=128,
        d_model=64,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
        max_source_positions=1500,
        max_target_positions=448,
        decoder_start_token_id=ids("<|startoftranscript|>"),
        bos_token_id=eot,
        eos_token_id=eot,
        pad_token_id=eot,
    )
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(config).eval()
    model.generation_config = GenerationConfig(
        decoder_start_token_id=config.decoder_start_token_id,
        eos_token_id=eot,
        pad_token_id=eot,
        suppress_tokens=[],
        begin_suppress_tokens=[eot],
        lang_to_id={f"<|{code}|>": ids(f"<|{code}|>") for code in LANGUAGES},
        no_timestamps_token_id=ids("<|notimestamps|>"),
    )
    with tempfile.TemporaryDirectory() as scratch:
        model.save_pretrained(scratch)
        PreTrainedTokenizerFast(
            tokenizer_object=tokenizer, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
            pad_token="<|endoftext|>", unk_token="<|endoftext|>",
        ).save_pretrained(scratch)  # fmt: skip
        WhisperFeatureExtractor(feature_size=128).save_pretrained(scratch)
        shutil.rmtree(target, ignore_errors=True)
        TransformersConverter(scratch, copy_files=["tokenizer.json", "preprocessor_config.json"]).convert(
            str(target), quantization="float16"
        )
    return target
