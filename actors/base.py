"""What a model family is: a Runtime (its models, loaded once per worker) and the Ray actor class
that hosts it.

A Runtime knows nothing of Ray. Built with the run's settings inside the worker that will run
it, it loads what each analyzer it serves needs (`load`), picks device and dtype through
`actors.device`, warms up, and answers one batch for all of its analyzers at once (`predict`:
the ultralytics shape, preprocess -> infer -> postprocess), so analyzers of one family share one
forward pass explicitly. The analyzers (pipeline/analyzers/) keep only the analysis: what they
make of the runtime's output for a batch (`process_frames(batch, predicted)`), and `finalize`.

The actor class (`ModelActor` subclass, one per family module) names the analyzers it serves;
the same class is a Ray Data `map_batches` actor and a Ray Serve deployment. It is built with
small arguments (analyzer references and the settings) and resolves the classes inside the
actor, so nothing large sits in the object store behind a restartable actor.
"""

from __future__ import annotations

import importlib
import pickle
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from pipeline import metrics
from pipeline.analyzer import AudioTrack, FrameBatch
from pipeline.schema import ModelUsed
from pipeline.settings import Settings

if TYPE_CHECKING:
    from pipeline.analyzer import Analyzer
    from pipeline.engine import WorkItem


class Runtime(ABC):
    """One model family's models in one worker, shared by the analyzers it serves."""

    name: ClassVar[str]  # the family: a stage's name (Serve deployment key, metrics tag)

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.models_used: dict[str, list[ModelUsed]] = {}  # analyzer -> models loaded for it

    @abstractmethod
    def load(self, analyzer: Analyzer) -> None:
        """Load (once) what `analyzer` needs; record each model in `self.models_used[name]`.
        Raises Skip (weights missing) or WeightsError (weights wrong) for that analyzer only."""

    @abstractmethod
    def predict(self, payload: FrameBatch | AudioTrack, analyzers: frozenset[str]) -> Any:
        """One pass over one batch for the named (loaded) analyzers: what each of them reads."""


def reference(cls: type) -> str:
    """A class as a small importable string: what actor constructors receive."""
    return f"{cls.__module__}:{cls.__qualname__}"


def resolve(ref: str) -> type:
    module, _, qualname = ref.partition(":")
    found: Any = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    return found


# WorkItems travel pickled in a binary column: Arrow cannot hold them as objects, and saying so
# ourselves spares Ray Data a failed conversion (and a warning) on every block.
def pack(items: list[WorkItem]) -> dict[str, list[bytes]]:
    return {"item": [pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL) for item in items]}


def unpack(batch: dict[str, np.ndarray]) -> list[WorkItem]:
    return [pickle.loads(blob) for blob in batch["item"]]


class ModelActor:
    """Runs some analyzers' process steps; payloads no later stage reads are dropped here.

    Subclasses name their family, its Runtime, and the analyzers they serve; this base class
    hosts, one pool each, the analyzers that no family serves."""

    family: ClassVar[str | None] = None
    runtime: ClassVar[type[Runtime] | None] = None  # None: the analyzers load what they need in setup()
    serves: ClassVar[tuple[str, ...] | None] = None  # None: any analyzer of no family

    def __init__(self, analyzers: tuple[str, ...], later: tuple[str, ...] = (), settings: Settings | None = None) -> None:
        from pipeline.engine import AnalyzerStage

        classes = tuple(resolve(ref) for ref in analyzers)
        strangers = [c.name for c in classes if self.serves is not None and c.name not in self.serves]
        if strangers:
            raise TypeError(f"{type(self).__name__} serves {', '.join(self.serves)}, not {', '.join(strangers)}")
        self.stage = AnalyzerStage(classes, tuple(resolve(ref) for ref in later), settings)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[bytes] | np.ndarray]:
        done = []
        for item in unpack(batch):
            frames = len(item.payload.frames) if isinstance(item.payload, FrameBatch) else 0
            before = dict(item.seconds)
            done.append(self.stage(item))
            metrics.record_stage(before, item.seconds, frames, "model")
        # Other columns (the runner's timing) pass through: one item out per item in.
        return {**{k: v for k, v in batch.items() if k != "item"}, **pack(done)}
