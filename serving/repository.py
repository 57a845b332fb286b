"""The model repository (Triton's layout) and the per-model config, parsed and validated into dataclasses.

    <repository>/<model name>/config.json          optional; Triton's model config in its JSON form
    <repository>/<model name>/<version>/model.slm  one numbered folder per version

The config is checked twice: here for its own shape (types, ranges, unknown keys: a misspelled key is an error
naming the file, not a silently ignored setting), and against the engine file by ``resolve_config`` once the
file is loaded (input names, dtypes, dims, whether the model can batch).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine import TensorInfo

CONFIG_FILE = "config.json"
DEFAULT_MODEL_FILE = "model.slm"
# Batch cap for a model with a symbolic batch dim whose config does not name one.
DEFAULT_MAX_BATCH_SIZE = 8
# Requests a model version may hold queued; past it new requests are refused with 503 (Triton: max_queue_size).
DEFAULT_MAX_QUEUE_SIZE = 256

# KServe v2 datatypes <-> numpy dtype names; the engine's dtypes are a subset.
KSERVE_TO_NUMPY: dict[str, str] = {
    "BOOL": "bool", "UINT8": "uint8", "UINT16": "uint16", "UINT32": "uint32", "UINT64": "uint64",
    "INT8": "int8", "INT16": "int16", "INT32": "int32", "INT64": "int64",
    "FP16": "float16", "FP32": "float32", "FP64": "float64",
}
NUMPY_TO_KSERVE: dict[str, str] = {v: k for k, v in KSERVE_TO_NUMPY.items()}


class ConfigError(ValueError):
    """A model folder or config that cannot be served; the message starts with the file it is about."""

    def __init__(self, path: str | os.PathLike[str], message: str) -> None:
        self.path = str(path)
        super().__init__(f"{self.path}: {message}")


@dataclass(frozen=True)
class TensorConfig:
    """An input or output as the protocol shows it: without the batch dim when the model batches."""

    name: str
    datatype: str  # KServe datatype, e.g. "FP32"
    dims: tuple[int, ...]  # -1: any size

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "data_type": f"TYPE_{self.datatype}", "dims": list(self.dims)}


@dataclass(frozen=True)
class DynamicBatching:
    preferred_batch_sizes: tuple[int, ...] = ()
    max_queue_delay_us: int = 0


@dataclass(frozen=True)
class ModelConfig:
    """What config.json (or the command line) asked for; None means "choose from the engine file / machine"."""

    name: str
    max_batch_size: int | None = None
    # None: dynamic batching with no delay (whatever queued while the instance was busy); False: off
    dynamic_batching: DynamicBatching | None | bool = None
    max_queue_size: int = DEFAULT_MAX_QUEUE_SIZE
    default_timeout_us: int = 0  # 0: no timeout
    instance_count: int | None = None
    threads_per_instance: int | None = None
    inputs: tuple[TensorConfig, ...] | None = None
    outputs: tuple[TensorConfig, ...] | None = None
    version_policy: tuple[str, Any] = ("latest", 1)  # ("latest", n) | ("all", None) | ("specific", (1, 3))
    model_filename: str = DEFAULT_MODEL_FILE


@dataclass(frozen=True)
class ModelSource:
    """One model of the repository: its config and the engine file of each version present on disk."""

    name: str
    config: ModelConfig
    versions: dict[int, Path] = field(default_factory=dict)
    config_path: Path | None = None

    def selected_versions(self) -> dict[int, Path]:
        """The versions the version policy serves (Triton's default: the latest one)."""
        kind, arg = self.config.version_policy
        ordered = sorted(self.versions)
        if kind == "all":
            chosen = ordered
        elif kind == "specific":
            missing = [v for v in arg if v not in self.versions]
            if missing:
                where = self.config_path or self.name
                raise ConfigError(where, f"version_policy names versions {missing} that have no folder")
            chosen = sorted(arg)
        else:
            chosen = ordered[-arg:]
        return {v: self.versions[v] for v in chosen}


# ---- config.json ---------------------------------------------------------------------------------------------

_TOP_KEYS = {"name", "platform", "backend", "max_batch_size", "input", "output", "dynamic_batching",
             "instance_group", "parameters", "version_policy", "default_model_filename"}


def _int(path: Path, where: str, value: Any, minimum: int = 0) -> int:
    # JSON has no int type of its own: 8.0 or "8" or true would otherwise slip through as a batch size
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(path, f"{where} must be an integer >= {minimum}, got {value!r}")
    return value


def _mapping(path: Path, where: str, value: Any, allowed: set[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(path, f"{where} must be an object, got {type(value).__name__}")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise ConfigError(path, f"{where} has unknown keys {unknown} (known: {sorted(allowed)})")
    return value


def _tensors(path: Path, where: str, value: Any) -> tuple[TensorConfig, ...]:
    if not isinstance(value, list):
        raise ConfigError(path, f"'{where}' must be a list")
    out = []
    for i, item in enumerate(value):
        item = _mapping(path, f"{where}[{i}]", item, {"name", "data_type", "dims", "format"})
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise ConfigError(path, f"{where}[{i}].name must be a non-empty string")
        dtype = item.get("data_type", "")
        dtype = dtype[5:] if isinstance(dtype, str) and dtype.startswith("TYPE_") else dtype
        if dtype not in KSERVE_TO_NUMPY:
            raise ConfigError(path, f"{where}[{i}] ('{name}') data_type {item.get('data_type')!r} is not one of "
                                    f"{['TYPE_' + k for k in KSERVE_TO_NUMPY]}")
        dims = item.get("dims")
        if not isinstance(dims, list):
            raise ConfigError(path, f"{where}[{i}] ('{name}') needs 'dims', a list of integers (-1: any size)")
        for d in dims:
            _int(path, f"{where}[{i}] ('{name}') dims", d, minimum=-1)
        out.append(TensorConfig(name, dtype, tuple(dims)))
    return tuple(out)


def parse_config(path: Path, raw: Any, name: str) -> ModelConfig:
    """config.json's content -> ModelConfig; every error names ``path``."""
    raw = _mapping(path, "the config", raw, _TOP_KEYS)
    if "name" in raw and raw["name"] != name:
        raise ConfigError(path, f"name {raw['name']!r} differs from the model folder's name {name!r}")
    for key in ("platform", "backend"):
        if key in raw and raw[key] not in ("slimlab", "slimlab_engine"):
            raise ConfigError(path, f"{key} {raw[key]!r}: this server runs engine files only ('slimlab_engine')")
    kwargs: dict[str, Any] = {"name": name}
    if "max_batch_size" in raw:
        kwargs["max_batch_size"] = _int(path, "max_batch_size", raw["max_batch_size"])
    if "dynamic_batching" in raw:
        db = raw["dynamic_batching"]
        if db is False:
            kwargs["dynamic_batching"] = False
        else:
            db = _mapping(path, "dynamic_batching", db,
                          {"preferred_batch_size", "max_queue_delay_microseconds", "default_queue_policy"})
            preferred = db.get("preferred_batch_size", [])
            if not isinstance(preferred, list):
                raise ConfigError(path, "dynamic_batching.preferred_batch_size must be a list of integers")
            preferred = tuple(sorted({_int(path, "preferred_batch_size", p, 1) for p in preferred}))
            delay = _int(path, "max_queue_delay_microseconds", db.get("max_queue_delay_microseconds", 0))
            kwargs["dynamic_batching"] = DynamicBatching(preferred, delay)
            policy = _mapping(path, "dynamic_batching.default_queue_policy", db.get("default_queue_policy", {}),
                              {"max_queue_size", "default_timeout_microseconds"})
            if "max_queue_size" in policy:
                kwargs["max_queue_size"] = _int(path, "max_queue_size", policy["max_queue_size"], 1)
            if "default_timeout_microseconds" in policy:
                kwargs["default_timeout_us"] = _int(path, "default_timeout_microseconds",
                                                    policy["default_timeout_microseconds"])
    if "instance_group" in raw:
        groups = raw["instance_group"]
        if not isinstance(groups, list) or len(groups) != 1:
            raise ConfigError(path, "instance_group must be a list of one group (the engine runs on the CPU)")
        group = _mapping(path, "instance_group[0]", groups[0], {"count", "kind", "name"})
        if group.get("kind", "KIND_CPU") not in ("KIND_CPU", "KIND_AUTO"):
            raise ConfigError(path, f"instance_group kind {group['kind']!r}: the engine runs on KIND_CPU only")
        if "count" in group:
            kwargs["instance_count"] = _int(path, "instance_group[0].count", group["count"], 1)
    if "parameters" in raw:
        params = _mapping(path, "parameters", raw["parameters"], {"intra_op_thread_count"})
        if "intra_op_thread_count" in params:
            value = _mapping(path, "parameters.intra_op_thread_count", params["intra_op_thread_count"],
                             {"string_value"}).get("string_value")
            if not isinstance(value, str) or not value.isdigit() or int(value) < 1:
                raise ConfigError(path, f"parameters.intra_op_thread_count.string_value must be a positive "
                                        f"integer as a string (Triton's form), got {value!r}")
            kwargs["threads_per_instance"] = int(value)
    if "input" in raw:
        kwargs["inputs"] = _tensors(path, "input", raw["input"])
    if "output" in raw:
        kwargs["outputs"] = _tensors(path, "output", raw["output"])
    if "version_policy" in raw:
        vp = _mapping(path, "version_policy", raw["version_policy"], {"latest", "all", "specific"})
        if len(vp) != 1:
            raise ConfigError(path, "version_policy must hold exactly one of latest, all, specific")
        ((kind, arg),) = vp.items()
        if kind == "latest":
            arg = _mapping(path, "version_policy.latest", arg, {"num_versions"})
            kwargs["version_policy"] = ("latest", _int(path, "num_versions", arg.get("num_versions", 1), 1))
        elif kind == "all":
            kwargs["version_policy"] = ("all", None)
        else:
            arg = _mapping(path, "version_policy.specific", arg, {"versions"})
            versions = arg.get("versions")
            if not isinstance(versions, list) or not versions:
                raise ConfigError(path, "version_policy.specific.versions must be a non-empty list")
            kwargs["version_policy"] = ("specific", tuple(_int(path, "versions", v, 1) for v in versions))
    if "default_model_filename" in raw:
        fname = raw["default_model_filename"]
        if not isinstance(fname, str) or not fname or "/" in fname or fname in (".", ".."):
            raise ConfigError(path, f"default_model_filename must be a plain file name, got {fname!r}")
        kwargs["model_filename"] = fname
    return ModelConfig(**kwargs)


# ---- the repository folder -----------------------------------------------------------------------------------

def read_model(root: str | os.PathLike[str], name: str) -> ModelSource:
    """One model folder of the repository (its config and version files); ConfigError names what is wrong."""
    folder = Path(root) / name
    if "/" in name or name in ("", ".", "..") or not folder.is_dir():
        raise FileNotFoundError(f"no model folder '{name}' in the repository {root}")
    config_path = folder / CONFIG_FILE
    if config_path.is_file():
        try:
            raw = json.loads(config_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(config_path, f"not valid JSON: {exc}") from None
        config = parse_config(config_path, raw, name)
    else:
        config, config_path = ModelConfig(name=name), None
    versions = {}
    for child in folder.iterdir():
        if child.is_dir() and child.name.isdigit() and int(child.name) > 0:
            model_file = child / config.model_filename
            if not model_file.is_file():
                raise ConfigError(model_file, "version folder without its engine file")
            versions[int(child.name)] = model_file
    if not versions:
        raise ConfigError(folder, f"no version folders (numbered subfolders holding {config.model_filename})")
    source = ModelSource(name, config, versions, config_path)
    source.selected_versions()  # a policy naming absent versions is a config error now, not at load
    return source


def list_models(root: str | os.PathLike[str]) -> list[str]:
    """Model names of the repository: its subfolders (hidden ones excluded)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"model repository {root} is not a folder")
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


# ---- config against the engine file --------------------------------------------------------------------------

@dataclass(frozen=True)
class ResolvedConfig:
    """The config a version is served with: the request plus what the engine file and the machine decided."""

    name: str
    max_batch_size: int  # 0: no batching; requests carry the model's full shape
    batching_reason: str
    dynamic_batching: DynamicBatching | None
    max_queue_size: int
    default_timeout_us: int
    inputs: tuple[TensorConfig, ...]
    outputs: tuple[TensorConfig, ...]
    instance_count: int | None = None
    threads_per_instance: int | None = None


def _batch_symbol(inputs: Sequence[TensorInfo], outputs: Sequence[TensorInfo]) -> tuple[str | None, str]:
    """The symbolic dim 0 shared by every input and output, or None and why not."""
    symbols = set()
    for t in [*inputs, *outputs]:
        if not t.shape:
            return None, f"'{t.name}' is a scalar"
        if not isinstance(t.shape[0], str):
            return None, f"'{t.name}' has a static dim 0 ({t.shape[0]})"
        symbols.add(t.shape[0])
    if len(symbols) != 1:
        return None, f"inputs and outputs name dim 0 differently ({sorted(symbols)})"
    return symbols.pop(), ""


def _check_declared(where: str | Path, kind: str, declared: tuple[TensorConfig, ...] | None,
                    actual: tuple[TensorConfig, ...]) -> tuple[TensorConfig, ...]:
    """Config-declared tensors must be the engine file's (a declared size may pin a variable dim)."""
    if declared is None:
        return actual
    by_name = {t.name: t for t in actual}
    if sorted(t.name for t in declared) != sorted(by_name):
        raise ConfigError(where, f"{kind} names {sorted(t.name for t in declared)} differ from the engine "
                                 f"file's {sorted(by_name)}")
    out = []
    for t in declared:
        real = by_name[t.name]
        if t.datatype != real.datatype:
            raise ConfigError(where, f"{kind} '{t.name}' is TYPE_{t.datatype} in the config but "
                                     f"TYPE_{real.datatype} in the engine file")
        if len(t.dims) != len(real.dims) or any(r != -1 and d != r for d, r in zip(t.dims, real.dims)):
            raise ConfigError(where, f"{kind} '{t.name}' dims {list(t.dims)} do not fit the engine file's "
                                     f"{list(real.dims)} (-1: any size)")
        out.append(t)
    return tuple(out)


def resolve_config(config: ModelConfig, inputs: Sequence[TensorInfo], outputs: Sequence[TensorInfo],
                   where: str | Path) -> ResolvedConfig:
    """Checks the config against a loaded engine file and fills in what it left open."""
    symbol, why_not = _batch_symbol(inputs, outputs)

    def spec(t: TensorInfo, drop_batch: bool) -> TensorConfig:
        if t.dtype not in NUMPY_TO_KSERVE:
            raise ConfigError(where, f"'{t.name}' has dtype {t.dtype}, which has no KServe datatype")
        dims = t.shape[1:] if drop_batch else t.shape
        return TensorConfig(t.name, NUMPY_TO_KSERVE[t.dtype], tuple(-1 if isinstance(d, str) else d for d in dims))

    requested = config.max_batch_size
    if symbol is None:
        if requested:
            raise ConfigError(where, f"max_batch_size {requested} needs a symbolic batch dim 0 on every input "
                                     f"and output, but {why_not}")
        max_batch, reason = 0, f"no batching: {why_not}; requests carry the model's full shape"
    elif requested == 0:
        max_batch, reason = 0, "no batching: max_batch_size 0 in the config; requests carry the full shape"
    else:
        max_batch = requested if requested is not None else DEFAULT_MAX_BATCH_SIZE
        origin = "config" if requested is not None else "default, the config names none"
        reason = f"batching on dim 0 '{symbol}', max batch {max_batch} ({origin})"
    drop = max_batch > 0
    ins = _check_declared(where, "input", config.inputs, tuple(spec(t, drop) for t in inputs))
    outs = _check_declared(where, "output", config.outputs, tuple(spec(t, drop) for t in outputs))

    db = config.dynamic_batching
    if max_batch == 0 or db is False:
        dynamic = None
        if max_batch and db is False:
            reason += "; dynamic batching off: each request runs alone"
        elif isinstance(db, DynamicBatching):
            reason += "; the config's dynamic_batching is ignored (nothing to batch)"
    else:
        dynamic = db if isinstance(db, DynamicBatching) else DynamicBatching()
        too_big = [p for p in dynamic.preferred_batch_sizes if p > max_batch]
        if too_big:
            raise ConfigError(where, f"preferred_batch_size {too_big} exceeds max_batch_size {max_batch}")
        reason += (f"; dynamic batching: delay {dynamic.max_queue_delay_us} us, preferred sizes "
                   f"{list(dynamic.preferred_batch_sizes) or 'none'}")
    return ResolvedConfig(config.name, max_batch, reason, dynamic, config.max_queue_size,
                          config.default_timeout_us, ins, outs, config.instance_count, config.threads_per_instance)
