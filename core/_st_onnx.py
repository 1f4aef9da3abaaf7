"""A mean-pooled sentence-transformers model on ONNX Runtime with int8 weights: about twice as fast on CPU.

Why not ``SentenceTransformer(..., backend="onnx")``: it needs ``optimum-onnx``, whose releases pin
transformers below 4.58 (this project runs 5.x). The same recipe is short without it: export the
transformer plus mean pooling with ``torch.onnx.export`` once, quantize the weights to int8 with
onnxruntime's ``quantize_dynamic`` (no calibration data), and run it with onnxruntime. Tokenising uses
the model's own tokenizer with the same truncation as sentence-transformers, so the vectors agree with
the PyTorch path to a cosine of ~0.99 (checked by tests/unit/test_st_onnx.py and
benchmarks/index_throughput.py). Dynamic quantization scales activations per call, so a text's vector
depends slightly on the texts it is embedded with (cosine ~0.99 between alone and in a batch): the same
size as the quantization error, and why the backend is part of the embedder's spec.

The exported file is cached under ``FEWSHOT_MODEL_CACHE`` (default: ``<workspace>/models``) in a folder
named by a hash of the model's files and of the exporter's versions, written atomically, so the export
(~15 s) happens once per model and machine and concurrent processes never read half a file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from core.errors import EmbedderError

CACHE_ENV = "FEWSHOT_MODEL_CACHE"
EXPORT_FORMAT = 1  # bump when the export recipe changes, so old cached files are not reused
QUANTIZED_FILE = "model_int8.onnx"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
MAX_BATCH_TOKENS = 1024  # padded tokens per ONNX call (measured best of 512-8192 on 2 cores: cache-sized calls)


def model_cache_root() -> Path:
    """Where exported models live: ``FEWSHOT_MODEL_CACHE`` or ``<workspace>/models``."""
    raw = os.environ.get(CACHE_ENV, "").strip()
    if raw:
        return Path(raw).expanduser().resolve()
    from core.config import workspace

    return workspace() / "models"


def _inside(model_dir: Path, module_path: str) -> Path:
    """A module folder named in ``modules.json``, if it lies inside the model folder (the file is the model's,
    perhaps uploaded: an absolute or ``../`` path would read and probe the server's folders); else EmbedderError,
    said the same whether or not anything exists there."""
    root = model_dir.resolve()
    target = (root / str(module_path)).resolve()
    if Path(str(module_path)).is_absolute() or not (target == root or target.is_relative_to(root)):
        raise EmbedderError(f"modules.json of {model_dir.name} names a module folder outside the model folder; "
                            "a sentence-transformers folder keeps its modules inside it")
    return target


def check_exportable(model_dir: Path) -> int:
    """The max sequence length of a sentence-transformers folder whose stack this module reproduces.

    Supported: Transformer -> Pooling(mean) [-> Normalize]. Anything else (CLS pooling, dense layers)
    would silently give different vectors, so it is refused with the way out.
    """
    try:
        modules = json.loads((model_dir / "modules.json").read_text())
        types = [m["type"].rsplit(".", 1)[-1] for m in modules]
        pooling_dir = next(m["path"] for m in modules if m["type"].endswith("Pooling"))
        pooling = json.loads((_inside(model_dir, pooling_dir) / "config.json").read_text())
    except (OSError, ValueError, KeyError, StopIteration, TypeError) as exc:
        raise EmbedderError(
            f"the onnx-int8 backend needs a sentence-transformers folder with modules.json and a Pooling module "
            f"({model_dir}: {exc}); use the @torch backend for this model"
        ) from None
    modes = [k for k, v in pooling.items() if k.startswith("pooling_mode") and v]
    stack_ok = types[:2] == ["Transformer", "Pooling"] and not set(types[2:]) - {"Normalize"}
    if not stack_ok or modes != ["pooling_mode_mean_tokens"]:
        raise EmbedderError(
            f"the onnx-int8 backend supports Transformer + mean pooling models only; {model_dir.name} has "
            f"{' + '.join(types)} ({', '.join(modes)}). Use the @torch backend for this model."
        )
    try:
        config = json.loads((model_dir / "sentence_bert_config.json").read_text())
        return int(config.get("max_seq_length") or 512)
    except (OSError, ValueError):
        return 512


def _fingerprint(model_dir: Path) -> str:
    """Hash of the model's files (name, size, first and last MB) and the exporting libraries' versions."""
    import onnxruntime
    import torch

    digest = hashlib.sha256(f"{EXPORT_FORMAT}|{torch.__version__}|{onnxruntime.__version__}".encode())
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file() and not p.name.startswith(".")):
        digest.update(f"{path.relative_to(model_dir)}|{path.stat().st_size}".encode())
        with path.open("rb") as fh:
            digest.update(fh.read(1 << 20))
            if path.stat().st_size > 2 << 20:
                fh.seek(-(1 << 20), os.SEEK_END)
                digest.update(fh.read())
    return digest.hexdigest()[:16]


def exported_model(model_dir: Path, name: str) -> Path:
    """The int8 ONNX file for ``model_dir``, exporting it into the cache first if it is not there yet."""
    folder = model_cache_root() / "onnx" / f"{_safe(name)}-{_fingerprint(model_dir)}"
    target = folder / QUANTIZED_FILE
    if target.is_file():
        return target
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".exporting"))
    try:
        _export(model_dir, staging)
        try:
            staging.replace(folder)
        except OSError:  # another process finished first: its file is as good as ours
            if not target.is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[-60:].strip("._") or "model"


def _export(model_dir: Path, out: Path) -> None:
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel, AutoTokenizer

    class MeanPooled(torch.nn.Module):
        """The transformer plus sentence-transformers' mean pooling (normalising happens after the run)."""

        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):  # noqa: ANN001 - traced tensors
            hidden = self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    model = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    # Two texts of different lengths, so padding and the mask are part of the traced graph.
    sample = tokenizer(["a short text", "a somewhat longer example text to trace"], padding=True, return_tensors="pt")
    if "token_type_ids" not in sample:
        sample["token_type_ids"] = torch.zeros_like(sample["input_ids"])
    full = out / "model.onnx"
    axes = {name: {0: "batch", 1: "tokens"} for name in INPUTS}
    import warnings

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about shape-dependent branches: checked by tests
        torch.onnx.export(
            MeanPooled(model), tuple(sample[name] for name in INPUTS), str(full),
            input_names=list(INPUTS), output_names=["embedding"], dynamic_axes={**axes, "embedding": {0: "batch"}},
            opset_version=17, dynamo=False,
        )
    import logging

    quant_logger = logging.getLogger()
    level = quant_logger.level
    quant_logger.setLevel(logging.ERROR)  # quantize_dynamic logs a "consider pre-processing" warning
    try:
        quantize_dynamic(str(full), str(out / QUANTIZED_FILE), weight_type=QuantType.QInt8, per_channel=True)
    finally:
        quant_logger.setLevel(level)
    full.unlink()
    tokenizer.save_pretrained(str(out / "tokenizer"))


class OnnxSentenceModel:
    """Texts -> unit vectors with the int8 ONNX export of a mean-pooled sentence-transformers model."""

    def __init__(self, model_dir: str | Path, name: str, threads: int | None = None) -> None:
        model_dir = Path(model_dir)
        self.max_seq_length = check_exportable(model_dir)
        try:
            import onnxruntime as ort
        except ImportError:
            raise EmbedderError(
                "the onnx-int8 backend needs onnxruntime and onnx: pip install -r requirements.txt "
                "(or use the @torch backend)"
            ) from None
        from transformers import AutoTokenizer

        self.path = exported_model(model_dir, name)
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.path.parent / "tokenizer"))
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or _default_threads()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        self.dim = int(self.session.get_outputs()[0].shape[-1])

    def encode(self, texts: list[str]) -> np.ndarray:
        """(n, dim) float32 mean-pooled vectors (not yet normalised), in the order of ``texts``.

        Texts are sorted by token count and cut into calls of at most ``MAX_BATCH_TOKENS`` padded tokens,
        so short texts are not padded to a long neighbour's length.
        """
        encoded = self.tokenizer(texts, truncation=True, max_length=self.max_seq_length)["input_ids"]
        lengths = np.array([len(ids) for ids in encoded])
        order = np.argsort(-lengths, kind="stable")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        start = 0
        while start < len(order):
            width = int(lengths[order[start]])
            stop = min(len(order), start + max(1, MAX_BATCH_TOKENS // max(width, 1)))
            rows = order[start:stop]
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            for row, index in enumerate(rows):
                tokens = encoded[index]
                ids[row, : len(tokens)] = tokens
                mask[row, : len(tokens)] = 1
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            out[rows] = self.session.run(None, feed)[0]
            start = stop
        return out


def _default_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)
