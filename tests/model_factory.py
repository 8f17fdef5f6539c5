"""Randomly initialised models of the architectures the vision and audio analyzers load, written where the
analyzers look for them: each under its analyzer's `Weights` name in a models directory, in the
format its loader reads, so that `setup()` loads them through its own code path.

size "tiny": as small as the architecture allows, for tests (seconds to build, milliseconds to
run). size "full": the published architecture, for benchmarks: the compute and memory of the
real model, with garbage output.

    YOLO11n (detect, pose, segment)   ultralytics' own yaml; tiny: half the channels of n
    ViT image classifiers (age, eye)  full: ViT-B/16 at 224 px, as nateraw/vit-age-classifier
    EasyOCR CRAFT + english_g2        EasyOCR builds these networks itself from its config: the
                                      published architecture at either size
    Qwen2-VL                          full: Qwen2-VL-2B-Instruct's published config
    YuNet                             a designed stand-in, not the real network (write_yunet_stand_in)
    wav2vec 2.0 emotion, AST          tiny only (write_audio_models): speech_emotion, audio_environment

Nothing here reaches a hub: tokenizers are trained and processors built in code. Writers import
their libraries when called, so that this module imports without them (the GPU benchmark runs
where some are missing).
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

SIZES = ("tiny", "full")

# [depth, width, max_channels] for the tiny YOLO11: half the channels of n (a quarter of its FLOPs,
# half its CPU time). Narrower breaks C2PSA, whose attention heads are channels // 64.
YOLO_TINY_SCALE = [0.5, 0.125, 1024]
YOLO_YAML = {"detect": "yolo11.yaml", "pose": "yolo11-pose.yaml", "segment": "yolo11-seg.yaml"}

AGE_LABELS = ("0-2", "3-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "more than 70")
EYE_LABELS = ("closeEye", "openEye")

EASYOCR_READS = "x"  # what the generated EasyOCR recognizer reads anywhere

EMOTION_LABELS = ("neu", "hap", "ang", "sad")  # superb's IEMOCAP classes, as its config names them
# Real AudioSet names, so that the broad-class map is exercised on what AST outputs.
AUDIOSET_LABELS = (
    "Speech", "Male speech, man speaking", "Music", "Guitar", "Crowd", "Rain", "Car", "Dog", "Silence", "Tick"
)  # fmt: skip

# Qwen2-VL-2B-Instruct's config.json (transformers' Qwen2VLConfig defaults are the 7B model's).
QWEN2_VL_2B_TEXT = {
    "vocab_size": 151936,
    "hidden_size": 1536,
    "intermediate_size": 8960,
    "num_hidden_layers": 28,
    "num_attention_heads": 12,
    "num_key_value_heads": 2,
    "max_position_embeddings": 32768,
    "rms_norm_eps": 1e-6,
    "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]},
}
QWEN2_VL_2B_VISION = {
    "depth": 32,
    "embed_dim": 1280,
    "hidden_size": 1536,  # the merger projects into the language model's width
    "mlp_ratio": 4,
    "num_heads": 16,
    "patch_size": 14,
    "spatial_merge_size": 2,
    "temporal_patch_size": 2,
}
QWEN2_VL_TINY_TEXT = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 2048,
    "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
}
QWEN2_VL_TINY_VISION = {"depth": 2, "embed_dim": 32, "hidden_size": 64, "mlp_ratio": 2, "num_heads": 2}


def _check(size: str) -> None:
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, not {size!r}")


# ---- ultralytics ------------------------------------------------------------------------------


def write_yolo(models: Path, task: str, size: str = "tiny", adjust: Callable | None = None, seed: int = 0) -> Path:
    """YOLO11n for `task` (detect | pose | segment), saved by ultralytics as the file its analyzer
    loads. `adjust(network)` may change the built network before it is saved."""
    _check(size)
    from actors import yolo

    weights = yolo.WEIGHTS[task]
    yolo.configure_ultralytics()  # before ultralytics is imported: offline, settings out of $HOME
    import torch
    import yaml
    from ultralytics import YOLO
    from ultralytics.utils import ROOT

    cfg = yaml.safe_load((ROOT / "cfg" / "models" / "11" / YOLO_YAML[task]).read_text())
    cfg["scales"] = {"n": YOLO_TINY_SCALE if size == "tiny" else cfg["scales"]["n"]}
    if task == "pose":
        cfg["nc"] = 1  # as in yolo11n-pose.pt: people only
    torch.manual_seed(seed)
    with tempfile.TemporaryDirectory() as scratch:
        cfg_path = Path(scratch) / f"{size}-yolo11n-{task}.yaml"  # ultralytics reads the scale letter from the name
        cfg_path.write_text(yaml.safe_dump(cfg))
        model = YOLO(str(cfg_path))
    if adjust is not None:
        adjust(model.model)
    coco = yaml.safe_load((ROOT / "cfg" / "datasets" / "coco.yaml").read_text())["names"]
    model.model.names = {0: "person"} if cfg["nc"] == 1 else dict(coco)
    path = models / weights.name
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    weights.accept_local(path)  # not the pinned release: accepted as a user's own would be
    return path


# ---- faces ------------------------------------------------------------------------------------


def write_vit_classifier(folder: Path, labels: tuple[str, ...], size: str = "tiny", seed: int = 0) -> Path:
    """A ViT image classifier with `labels`, saved as a hub snapshot is (model and processor)."""
    _check(size)
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    names = {"id2label": dict(enumerate(labels)), "label2id": {label: i for i, label in enumerate(labels)}}
    if size == "tiny":
        config = ViTConfig(
            image_size=32, patch_size=8, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
            intermediate_size=32, **names,
        )  # fmt: skip
        processor = ViTImageProcessor(size={"height": 32, "width": 32})
    else:
        config = ViTConfig(**names)  # ViTConfig's defaults are ViT-B/16 at 224 px
        processor = ViTImageProcessor()  # 224 x 224, mean and std 0.5: as the age classifier's
    torch.manual_seed(seed)
    ViTForImageClassification(config).save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def write_age_classifier(models: Path, size: str = "tiny") -> Path:
    from actors.faces import AGE_MODEL

    return write_vit_classifier(models / AGE_MODEL.name, AGE_LABELS, size, seed=0)


# nateraw/vit-age-classifier's preprocessor_config.json on the hub, as it is there (the legacy
# feature-extractor form): 224 x 224, bilinear, rescaled to 0..1, then (x - 0.5) / 0.5.
AGE_PROCESSOR_CONFIG = {
    "do_normalize": True,
    "do_resize": True,
    "feature_extractor_type": "ViTFeatureExtractor",
    "image_mean": [0.5, 0.5, 0.5],
    "image_std": [0.5, 0.5, 0.5],
    "resample": 2,
    "size": 224,
}
# Which bucket the colour-reading ViT picks for a crop mostly of one colour, by the signs of
# (red - blue) and of (brightness - mid-grey) after normalisation: see write_colour_age_classifier.
COLOUR_BUCKETS = {(1, 1): "20-29", (1, -1): "30-39", (-1, -1): "50-59", (-1, 1): "60-69"}
COLOUR_SHARPNESS = 5.0


def write_colour_age_classifier(models: Path) -> Path:
    """A ViT in the age classifier's format (its labels, its processor config) whose weights are set
    by hand so that its answer depends on the colours it is fed, as the model's input: each 32 px
    patch votes with the signs of its mean (R - B) and its mean normalised brightness (both
    channels of a layer norm), a uniform attention averages the votes into the class token, and
    the classifier points one bucket at each quadrant (COLOUR_BUCKETS). BGR fed as RGB swaps red
    and blue; a missing normalisation makes every crop bright (0..1 or 0..255 is never below 0)."""
    import json

    import torch
    from transformers import ViTConfig, ViTForImageClassification

    from actors.faces import AGE_MODEL

    names = {"id2label": dict(enumerate(AGE_LABELS)), "label2id": {label: i for i, label in enumerate(AGE_LABELS)}}
    config = ViTConfig(
        image_size=224, patch_size=32, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=8, **names,
    )  # fmt: skip
    model = ViTForImageClassification(config).eval()
    params = dict(model.named_parameters())
    with torch.no_grad():
        for value in params.values():
            value.zero_()  # zero queries and keys: uniform attention; zero MLP: it adds nothing
        for name, value in params.items():
            if "layernorm" in name and name.endswith(".weight"):
                value.fill_(1.0)
        for name in ("vit.layers.0.attention.v_proj.weight", "vit.layers.0.attention.o_proj.weight"):
            params[name].copy_(torch.eye(8))
        patch = params["vit.embeddings.patch_embeddings.projection.weight"]  # (8, 3, 32, 32)
        area = 32 * 32
        patch[0, 0], patch[0, 2] = 1 / area, -1 / area  # mean(R - B) ...
        patch[2, :] = 1 / (3 * area)  # ... and mean brightness; their negatives keep each token's mean 0
        patch[1], patch[3] = -patch[0], -patch[2]
        classifier_weight, classifier_bias = params["classifier.weight"], params["classifier.bias"]
        classifier_bias.fill_(-50.0)  # buckets no quadrant names
        for (red, bright), label in COLOUR_BUCKETS.items():
            k = AGE_LABELS.index(label)
            classifier_weight[k, 0], classifier_weight[k, 2] = COLOUR_SHARPNESS * red, COLOUR_SHARPNESS * bright
            classifier_bias[k] = 0.0
    folder = models / AGE_MODEL.name
    model.save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(json.dumps(AGE_PROCESSOR_CONFIG, indent=2))
    return folder


def write_eye_state_classifier(models: Path, size: str = "tiny") -> Path:
    from actors.faces import EYE_STATE_MODEL

    return write_vit_classifier(models / EYE_STATE_MODEL.name, EYE_LABELS, size, seed=1)


# A YuNet-shaped ONNX graph, written as protobuf by hand (the onnx package is not a dependency).
# Per stride s in 8, 16, 32: AveragePool(s) -> 1x1 Conv to 16 channels -> [1, N, 16] -> cls(1),
# obj(1), bbox(4), kps(10); cls and obj through a sigmoid. Only stride 32 can fire: its cls and obj
# are sigmoid(0.05 * (B + G + R) - 20), so a white 32 px cell scores ~1 and anything darker than
# ~half grey nothing. bbox and kps are constant: a 64 px box centred on the cell, the nose
# between the eyes (a frontal face).
YUNET_CELL = 32
# A release name YUNET accepts (face_detection_yunet_*.onnx) with no pinned digest, sorting before
# every real release: under the pinned 2023mar name its digest would rightly fail.
YUNET_STAND_IN = "face_detection_yunet_0000stand-in.onnx"


def write_yunet_stand_in(models: Path, eyes_apart: float = 0.5) -> Path:
    """A face detector OpenCV loads as YuNet that puts one frontal face on every white 32 px cell
    of the stride-32 grid: faces where a test or benchmark wants them. Not the real network: its
    cost is not YuNet's. eyes_apart: in cells; eye_tracking reads the eyes only where EYE_CROP
    times their distance reaches EYE_MIN_PX (pipeline/analyzers/eye_tracking.py): from 0.625 cells apart."""
    # Eyes, nose tip, mouth corners, in cells from the cell's corner.
    keypoints = [(0.5 - eyes_apart / 2, 0.3), (0.5 + eyes_apart / 2, 0.3), (0.5, 0.55), (0.3, 0.8), (0.7, 0.8)]
    nodes, weights = [], []
    for s in (8, 16, 32):
        kernel = np.zeros((16, 3, 1, 1), np.float32)
        bias = np.zeros(16, np.float32)
        if s == YUNET_CELL:
            kernel[:2] = 0.05
            bias[:2] = -20.0
            bias[2:6] = [0.5, 0.5, np.log(2.0), np.log(2.0)]
            bias[6:] = np.array(keypoints, np.float32).ravel()
        else:
            bias[:2] = -30.0
        weights += [_tensor(f"w{s}", kernel), _tensor(f"b{s}", bias)]
        weights += [
            _tensor(f"shape{s}", np.array([1, 16, -1], np.int64)),
            _tensor(f"split{s}", np.array([1, 1, 4, 10], np.int64)),
        ]
        nodes += [
            _node("AveragePool", ["input"], [f"pool{s}"], kernel_shape=[s, s], strides=[s, s]),
            _node("Conv", [f"pool{s}", f"w{s}", f"b{s}"], [f"conv{s}"]),
            _node("Reshape", [f"conv{s}", f"shape{s}"], [f"flat{s}"]),
            _node("Transpose", [f"flat{s}"], [f"rows{s}"], perm=[0, 2, 1]),
            _node("Split", [f"rows{s}", f"split{s}"], [f"cls_raw{s}", f"obj_raw{s}", f"bbox_{s}", f"kps_{s}"], axis=2),
            _node("Sigmoid", [f"cls_raw{s}"], [f"cls_{s}"]),
            _node("Sigmoid", [f"obj_raw{s}"], [f"obj_{s}"]),
        ]
    heads = (("cls", 1), ("obj", 1), ("bbox", 4), ("kps", 10))
    outputs = [_value(f"{kind}_{s}", [1, "n", k]) for kind, k in heads for s in (8, 16, 32)]
    graph = b"".join(_field(1, n) for n in nodes) + _field(2, "tiny_yunet") + b"".join(_field(5, w) for w in weights)
    graph += _field(11, _value("input", [1, 3, "h", "w"])) + b"".join(_field(12, o) for o in outputs)
    path = models / YUNET_STAND_IN
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_int(1, 8) + _field(7, graph) + _field(8, _field(1, "") + _int(2, 13)))
    return path


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _field(number: int, data: bytes | str) -> bytes:
    data = data.encode() if isinstance(data, str) else data
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _int(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _tensor(name: str, array: np.ndarray) -> bytes:
    kind = {np.dtype(np.float32): 1, np.dtype(np.int64): 7}[array.dtype]
    return b"".join(_int(1, d) for d in array.shape) + _int(2, kind) + _field(8, name) + _field(9, array.tobytes())


def _attribute(key: str, value: list[int] | int) -> bytes:
    if isinstance(value, list):  # type INTS (7), field ints
        return _field(1, key) + _int(20, 7) + b"".join(_int(8, v) for v in value)
    return _field(1, key) + _int(20, 2) + _int(3, value)  # type INT (2), field i


def _node(op: str, inputs: list[str], outputs: list[str], **ints: list[int] | int) -> bytes:
    attributes = b"".join(_field(5, _attribute(key, value)) for key, value in ints.items())
    return b"".join(_field(1, i) for i in inputs) + b"".join(_field(2, o) for o in outputs) + _field(4, op) + attributes


def _value(name: str, dims: list[int | str]) -> bytes:
    shape = b"".join(_field(1, _int(1, d) if isinstance(d, int) else _field(2, d)) for d in dims)
    return _field(1, name) + _field(2, _field(1, _int(1, 1) + _field(2, shape)))


# ---- EasyOCR ----------------------------------------------------------------------------------


def write_easyocr(models: Path, size: str = "tiny") -> tuple[Path, Path]:
    """CRAFT and english_g2 saved as EasyOCR's files are (the recognizer in DataParallel layout:
    EasyOCR strips 'module.'). Random weights find no text; so that the whole path runs, each
    model's last layer is a constant: CRAFT scores every pixel as text (one box, the whole
    frame) and the recognizer reads every column as EASYOCR_READS. Both sizes are the published
    networks: EasyOCR builds them itself. Its MD5 check refuses these files until its table says
    otherwise (easyocr_md5s)."""
    _check(size)
    import torch
    from easyocr.config import recognition_models
    from easyocr.craft import CRAFT
    from easyocr.model.vgg_model import Model
    from easyocr.utils import CTCLabelConverter

    from actors.ocr import EASYOCR_WEIGHTS

    craft_file, english_file = (models / w.name for w in EASYOCR_WEIGHTS)
    craft_file.parent.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    detector = CRAFT()
    scores = detector.conv_cls[-1]  # region and affinity scores
    torch.nn.init.zeros_(scores.weight)
    torch.nn.init.constant_(scores.bias, 1.0)
    torch.save(detector.state_dict(), craft_file)
    converter = CTCLabelConverter(recognition_models["gen2"]["english_g2"]["characters"], {}, {})
    recognizer = Model(input_channel=1, output_channel=256, hidden_size=256, num_class=len(converter.character))
    torch.nn.init.zeros_(recognizer.Prediction.weight)
    torch.nn.init.zeros_(recognizer.Prediction.bias)
    recognizer.Prediction.bias.data[converter.character.index(EASYOCR_READS)] = 10.0
    torch.save({"module." + k: v for k, v in recognizer.state_dict().items()}, english_file)
    return craft_file, english_file


def easyocr_md5s(models: Path) -> dict[str, str]:
    """The MD5 of the generated CRAFT ("craft") and english_g2 ("english_g2") files: what
    EasyOCR's table (easyocr.config) must hold for it to load them."""
    from actors.ocr import EASYOCR_WEIGHTS

    craft_file, english_file = (models / w.name for w in EASYOCR_WEIGHTS)
    return {
        "craft": hashlib.md5(craft_file.read_bytes()).hexdigest(),
        "english_g2": hashlib.md5(english_file.read_bytes()).hexdigest(),
    }


# ---- Qwen2-VL ---------------------------------------------------------------------------------

_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
            "<|image_pad|>", "<|video_pad|>"]  # fmt: skip
_CHAT = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{% if m['content'] is string %}{{ m['content'] }}"
    "{% else %}{% for c in m['content'] %}{% if c['type'] == 'video' %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def write_qwen2_vl(models: Path, size: str = "tiny") -> Path:
    """A Qwen2-VL with random weights where its analyzer looks for Qwen2-VL-2B-Instruct, with a
    byte-level BPE tokenizer trained here and processors built in code, saved as a hub snapshot
    is. tiny: a few hundred thousand parameters, float32. full: the 2B model's published config
    (2.2 B parameters), saved in bfloat16 as the hub's checkpoint is. The tokenizer is small
    whatever the size: prompts come out a few tokens shorter than the real tokenizer's, and the
    ids a random model generates past its vocabulary decode to nothing."""
    _check(size)
    import torch
    from tokenizers import Tokenizer, decoders, pre_tokenizers, trainers
    from tokenizers import models as tokenizer_models
    from transformers import (
        AutoModelForImageTextToText,
        PreTrainedTokenizerFast,
        Qwen2VLConfig,
        Qwen2VLImageProcessor,
        Qwen2VLProcessor,
        Qwen2VLVideoProcessor,
    )

    from pipeline.analyzers.qwen2_vl import PROMPT, Qwen2VLTemporal

    bpe = Tokenizer(tokenizer_models.BPE(unk_token=None))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    corpus = [PROMPT, "A person walks to a red car.", "user"]
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=_SPECIAL, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    bpe.train_from_iterator(corpus * 10, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>", additional_special_tokens=_SPECIAL[1:]
    )
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in _SPECIAL}
    # Qwen2-VL's preprocessor_config: 56 x 56 to 28 x 28 x 1280 pixels; the tiny one caps lower.
    pixels = {"min_pixels": 56 * 56, "max_pixels": 112 * 112 if size == "tiny" else 28 * 28 * 1280}
    processor = Qwen2VLProcessor(
        image_processor=Qwen2VLImageProcessor(**pixels),
        video_processor=Qwen2VLVideoProcessor(**pixels),
        tokenizer=tokenizer,
        chat_template=_CHAT,
    )
    if size == "tiny":
        text, vision, tied = {**QWEN2_VL_TINY_TEXT, "vocab_size": len(tokenizer)}, QWEN2_VL_TINY_VISION, False
    else:
        text, vision, tied = QWEN2_VL_2B_TEXT, QWEN2_VL_2B_VISION, True
    config = Qwen2VLConfig(
        text_config={
            **text,
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config=vision,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=tied,
    )
    folder = models / Qwen2VLTemporal.weights[0].name
    torch.manual_seed(0)
    dtype = torch.float32 if size == "tiny" else torch.bfloat16
    model = AutoModelForImageTextToText.from_config(config, dtype=dtype).eval()
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    # The hub's snapshot keeps the image processor in preprocessor_config.json, which its Weights
    # entry requires; transformers 5 writes the processor's settings to processor_config.json.
    processor.image_processor.save_pretrained(folder)
    return folder


# ---- all of them ------------------------------------------------------------------------------


def write_vision_models(models: Path, size: str = "tiny") -> Path:
    """Every model the seven vision analyzers load, in one models directory."""
    for task in YOLO_YAML:
        write_yolo(models, task, size)
    write_age_classifier(models, size)
    write_eye_state_classifier(models, size)
    write_yunet_stand_in(models)
    write_easyocr(models, size)
    write_qwen2_vl(models, size)
    return models


def write_speech_emotion(folder: Path) -> Path:
    """A wav2vec 2.0 sequence classifier (superb's emotion head layout) of a few thousand parameters."""
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForSequenceClassification

    config = Wav2Vec2Config(
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        conv_dim=(16,) * 7,  # the base model's 7 strided convolutions (x320), narrow
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        use_weighted_layer_sum=True,  # as superb's checkpoints
        classifier_proj_size=8,
        initializer_range=0.5,  # far from uniform outputs, so that windows disagree and runs form
        id2label=dict(enumerate(EMOTION_LABELS)),
        label2id={label: i for i, label in enumerate(EMOTION_LABELS)},
    )
    torch.manual_seed(0)
    Wav2Vec2ForSequenceClassification(config).eval().save_pretrained(folder)
    Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16_000, do_normalize=True).save_pretrained(folder)
    return folder


def write_audio_environment(folder: Path) -> Path:
    """An Audio Spectrogram Transformer on the real input (1024 frames x 128 mel bins, 16x16
    patches), one narrow layer. Its feature extractor warns that 128 bins over a 512-point FFT
    leave some mel filters empty: so does the real one's."""
    import torch
    from transformers import ASTConfig, ASTFeatureExtractor, ASTForAudioClassification

    config = ASTConfig(
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        initializer_range=0.5,
        id2label=dict(enumerate(AUDIOSET_LABELS)),
        label2id={label: i for i, label in enumerate(AUDIOSET_LABELS)},
    )
    torch.manual_seed(0)
    ASTForAudioClassification(config).eval().save_pretrained(folder)
    ASTFeatureExtractor().save_pretrained(folder)
    return folder


def write_audio_models(models: Path) -> Path:
    """speech_emotion's and audio_environment's models, in one models directory."""
    from pipeline.analyzers.audio_models import AUDIO_ENVIRONMENT_WEIGHTS, SPEECH_EMOTION_WEIGHTS

    write_speech_emotion(models / SPEECH_EMOTION_WEIGHTS.name)
    write_audio_environment(models / AUDIO_ENVIRONMENT_WEIGHTS.name)
    return models
