"""Samplers: where the samples of each training step come from.

Every sampler answers `propose(micro_step, count)` with a pure function of its seed, the step and the
state it had when the step's round began, so a step's samples can be made again (by DataLoader workers
ahead of the model, or by a resumed run) and are the same. Losses reach a sampler through `record`
(from the training step itself, gathered over processes, so every process holds the same state); they
change what it proposes from the next round (`start_round`, every ``refresh_steps`` micro-steps) on.
The whole state is in `state_dict`, which Accelerate checkpoints.

- `UniformSampler`: the samples of the make-dataset "train" split in order: every parameter uniform
  within the pipeline's ranges (the paper's random sampling).
- `GuidedSampler`: a uniform floor plus local perturbations of the hardest recent samples' controls.
- `TargetSampler`: a uniform floor plus perturbations of fixed targets (e.g. read from a user's photos).
- `PoolSampler`: the official synthforge-train re-weighting of a fixed corpus (rows of a dataset).
"""

from __future__ import annotations

import hashlib
import math

import torch

from ..shards import sample_seed
from .control import ControlSpace, Proposals


def _generator(seed: int, *parts) -> torch.Generator:
    digest = hashlib.blake2b("/".join(map(str, (seed, *parts))).encode(), digest_size=8).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest, "little") & (2**63 - 1))


def reflect_into_unit(units: torch.Tensor) -> torch.Tensor:
    """Fold points back into [0, 1] by mirroring at the faces of the cube (a perturbation past an edge
    comes back in as far as it went out), so the proposal density has no pile-up at the edges."""
    folded = torch.remainder(units, 2.0)
    return torch.where(folded > 1.0, 2.0 - folded, folded)


ROW_BLOCK = 16  # dataset rows proposed together: row i is proposal i % ROW_BLOCK of block i // ROW_BLOCK


class UniformSampler:
    """Every parameter uniform within the pipeline's `SamplingRanges`: micro-step ``t`` of ``count``
    samples renders samples ``t * count .. (t + 1) * count - 1`` of the make-dataset split ``split`` (the
    same seeds, so the same faces as a dataset made with base seed ``seed``).

    Args:
        space (`ControlSpace`): the pipeline's control space.
        seed (`int`): the base seed of the split (`sample_seed`).
        split (`str`): the split whose samples are proposed (a sampler's own draws are split apart too).
    """

    name = "uniform"
    refresh_steps = 0

    def __init__(self, space: ControlSpace, seed: int = 0, split: str = "train"):
        self.space = space
        self.seed = seed
        self.split = split
        self.round = 0

    def propose(self, micro_step: int, count: int) -> Proposals:
        return self.space.of_split(self.seed, self.split, micro_step * count, count)

    def propose_rows(self, indices: list[int]) -> Proposals:
        """The proposals of dataset rows ``indices`` of the split: row ``i`` is proposal
        ``i % ROW_BLOCK`` of block ``i // ROW_BLOCK`` (for uniform sampling: sample ``i`` of the split)."""
        blocks = {block: self.propose(block, ROW_BLOCK) for block in {i // ROW_BLOCK for i in indices}}
        return Proposals.cat([blocks[i // ROW_BLOCK][i % ROW_BLOCK : i % ROW_BLOCK + 1] for i in indices])

    def record(self, proposals: Proposals, losses: torch.Tensor) -> None:
        """Uniform sampling does not look at losses."""

    def start_round(self, round_index: int) -> None:
        self.round = round_index

    def summary(self) -> dict[str, float]:
        return {}

    def state_dict(self) -> dict:
        return {"round": self.round}

    def load_state_dict(self, state: dict) -> None:
        self.round = int(state["round"])


class GuidedSampler(UniformSampler):
    """Proposals concentrated where recent per-sample losses are high.

    Each micro-step's first ``ceil(uniform_share * count)`` samples are those `UniformSampler` would
    give (so coverage never falls below that share); the others perturb the control point of a parent
    drawn from the round's parents (the hardest ``hard_fraction`` of the last ``memory`` recorded
    samples) by Gaussian noise of ``spread`` (in unit-cube coordinates, folded back into the cube), and
    keep the parent's appearance (its seed) with probability ``keep_appearance`` or draw a fresh one. In
    the first round, before any loss is known, every sample is uniform.

    Args:
        space (`ControlSpace`): the pipeline's control space.
        seed (`int`): the sampler's seed (its uniform samples are the split ``split`` of this base seed).
        refresh_steps (`int`): micro-steps per round (the parents are chosen again at each round).
        uniform_share (`float`): the share of each micro-step's samples drawn uniformly.
        hard_fraction (`float`): the fraction of the remembered samples, hardest first, that are parents.
        memory (`int`): how many recent samples are remembered.
        spread (`float`): the standard deviation of the perturbation in the unit cube.
        keep_appearance (`float`): the probability that a child keeps its parent's appearance.
        split (`str`): the split of the uniform samples, and of the sampler's own draws.
    """

    name = "guided"

    def __init__(
        self,
        space: ControlSpace,
        seed: int = 0,
        refresh_steps: int = 25,
        uniform_share: float = 0.25,
        hard_fraction: float = 0.2,
        memory: int = 2048,
        spread: float = 0.08,
        keep_appearance: float = 0.5,
        split: str = "train",
    ):
        super().__init__(space, seed, split)
        self.refresh_steps = refresh_steps
        self.uniform_share = uniform_share
        self.hard_fraction = hard_fraction
        self.memory = memory
        self.spread = spread
        self.keep_appearance = keep_appearance
        self.recorded = Proposals(torch.zeros(0, dtype=torch.int64), torch.zeros(0, space.dim))
        self.losses = torch.zeros(0)
        self.parents = Proposals(torch.zeros(0, dtype=torch.int64), torch.zeros(0, space.dim))
        self.parent_weights = torch.zeros(0)

    def propose(self, micro_step: int, count: int) -> Proposals:
        num_uniform = count if len(self.parents) == 0 else min(count, math.ceil(self.uniform_share * count))
        uniform = self.space.of_split(self.seed, self.split, micro_step * count, num_uniform)
        num_children = count - num_uniform
        if num_children == 0:
            return uniform
        g = _generator(self.seed, self.split, self.name, micro_step)
        chosen = torch.multinomial(self.parent_weights, num_children, replacement=True, generator=g)
        noise = torch.randn(num_children, self.space.dim, generator=g) * self.spread
        units = reflect_into_unit(self.parents.units[chosen] + noise)
        keep = torch.rand(num_children, generator=g) < self.keep_appearance
        stream = f"{self.split}/{self.name}-appearance"
        fresh = torch.tensor(
            [sample_seed(self.seed, stream, micro_step * count + j) for j in range(num_uniform, count)]
        )
        seeds = torch.where(keep, self.parents.seeds[chosen], fresh)
        return Proposals.cat([uniform, Proposals(seeds, units)])

    def record(self, proposals: Proposals, losses: torch.Tensor) -> None:
        """Remember the samples' losses (the newest ``memory`` are kept)."""
        self.recorded = Proposals.cat([self.recorded, proposals])[-self.memory :]
        self.losses = torch.cat([self.losses, losses.detach().float().cpu()])[-self.memory :]

    def start_round(self, round_index: int) -> None:
        """Choose the parents of the next round: the hardest recorded samples."""
        self.round = round_index
        if len(self.losses) == 0:
            return
        count = max(1, math.ceil(self.hard_fraction * len(self.losses)))
        hardest = torch.topk(self.losses, count).indices
        self.parents = self.recorded[hardest]
        self.parent_weights = torch.ones(count)

    def parents_record(self) -> dict:
        """The options and parents that fix this sampler's proposals (JSON-ready), for
        `GuidedSampler.from_parents_record`."""
        return {
            "uniform_share": self.uniform_share,
            "hard_fraction": self.hard_fraction,
            "spread": self.spread,
            "keep_appearance": self.keep_appearance,
            "parent_seeds": self.parents.seeds.tolist(),
            "parent_units": self.parents.units.tolist(),
        }

    @classmethod
    def from_parents_record(cls, space: ControlSpace, record: dict, seed: int, split: str) -> GuidedSampler:
        """The sampler `parents_record` describes, proposing for ``split`` from base seed ``seed``."""
        sampler = cls(
            space,
            seed,
            uniform_share=record["uniform_share"],
            hard_fraction=record["hard_fraction"],
            spread=record["spread"],
            keep_appearance=record["keep_appearance"],
            split=split,
        )
        seeds = torch.tensor(record["parent_seeds"], dtype=torch.int64)
        sampler.parents = Proposals(
            seeds, torch.tensor(record["parent_units"], dtype=torch.float32).reshape(-1, space.dim)
        )
        sampler.parent_weights = torch.ones(len(seeds))
        return sampler

    def summary(self) -> dict[str, float]:
        if len(self.losses) == 0:
            return {}
        return {"sampler/parents": float(len(self.parents)), "sampler/recent_loss": float(self.losses.mean())}

    def state_dict(self) -> dict:
        return {
            "round": self.round,
            "recorded_seeds": self.recorded.seeds,
            "recorded_units": self.recorded.units,
            "losses": self.losses,
            "parent_seeds": self.parents.seeds,
            "parent_units": self.parents.units,
            "parent_weights": self.parent_weights,
        }

    def load_state_dict(self, state: dict) -> None:
        self.round = int(state["round"])
        self.recorded = Proposals(state["recorded_seeds"], state["recorded_units"])
        self.losses = state["losses"]
        self.parents = Proposals(state["parent_seeds"], state["parent_units"])
        self.parent_weights = state["parent_weights"]


class TargetSampler(GuidedSampler):
    """Proposals around fixed targets: `GuidedSampler` whose parents are given (e.g. the control points
    that match the faces of a user's photos, weighted by how unsure a model is of them) instead of
    chosen from losses; children always draw a fresh appearance.

    Args:
        space (`ControlSpace`): the pipeline's control space.
        targets (`torch.Tensor` of shape `(T, D)`): the target points of the unit cube.
        weights (`torch.Tensor` of shape `(T,)`): how often each target is drawn (relative).
        seed, uniform_share, spread: as `GuidedSampler`.
    """

    name = "target"

    def __init__(
        self,
        space: ControlSpace,
        targets: torch.Tensor,
        weights: torch.Tensor,
        seed: int = 0,
        uniform_share: float = 0.25,
        spread: float = 0.08,
    ):
        super().__init__(space, seed, refresh_steps=0, uniform_share=uniform_share, spread=spread)
        if (
            targets.ndim != 2
            or targets.shape[1] != space.dim
            or len(targets) != len(weights)
            or not len(targets)
        ):
            raise ValueError(f"targets must be (T, {space.dim}) with T weights, got {tuple(targets.shape)}")
        self.keep_appearance = 0.0
        self.parents = Proposals(torch.zeros(len(targets), dtype=torch.int64), targets.float())
        self.parent_weights = weights.float()

    def record(self, proposals: Proposals, losses: torch.Tensor) -> None:
        """The targets do not move with losses (so `start_round` keeps them: nothing is recorded)."""


class PoolSampler:
    """The official synthforge-train scheme: a fixed corpus of ``num_rows`` samples (a dataset's rows);
    each round of ``refresh_steps`` micro-steps draws its ``refresh_steps * count`` rows without
    replacement with probabilities ``softmax(temperature * loss)``, where a row's loss is the last one
    recorded for it (rows not yet trained on count at the mean of those that were).

    Args:
        num_rows (`int`): the corpus size.
        count (`int`): rows per micro-step (all processes together).
        seed (`int`): the seed of the draws.
        refresh_steps (`int`): micro-steps per round.
        temperature (`float`): the softmax's factor on the losses (0: uniform without replacement).
    """

    name = "pool"

    def __init__(
        self, num_rows: int, count: int, seed: int = 0, refresh_steps: int = 25, temperature: float = 0.2
    ):
        if num_rows < refresh_steps * count:
            raise ValueError(
                f"the pool has {num_rows} rows, fewer than one round of {refresh_steps} steps x {count}"
            )
        self.num_rows, self.count, self.seed = num_rows, count, seed
        self.refresh_steps, self.temperature = refresh_steps, temperature
        self.losses = torch.full((num_rows,), float("nan"))
        self.draws = torch.zeros(num_rows, dtype=torch.int64)
        self.start_round(0)

    def probabilities(self) -> torch.Tensor:
        known = ~torch.isnan(self.losses)
        losses = torch.where(known, self.losses, self.losses[known].mean() if known.any() else 0.0)
        return torch.softmax(self.temperature * losses, 0)

    def start_round(self, round_index: int) -> None:
        self.round = round_index
        g = _generator(self.seed, self.name, round_index)
        self.rows = torch.multinomial(self.probabilities(), self.refresh_steps * self.count, generator=g)
        self.draws += torch.bincount(self.rows, minlength=self.num_rows)

    def propose(self, micro_step: int, count: int) -> torch.Tensor:
        if count != self.count:
            raise ValueError(f"the pool draws {self.count} rows per micro-step, asked for {count}")
        start = (micro_step - self.round * self.refresh_steps) * count
        if not 0 <= start < len(self.rows):
            raise ValueError(f"micro-step {micro_step} is not in round {self.round}")
        return self.rows[start : start + count]

    def record(self, rows: torch.Tensor, losses: torch.Tensor) -> None:
        self.losses[rows.cpu()] = losses.detach().float().cpu()

    def summary(self) -> dict[str, float]:
        p = self.probabilities()
        return {
            "sampler/max_probability_ratio": float(p.max() / p.min()),
            "sampler/rows_drawn": float((self.draws > 0).float().mean()),
        }

    def state_dict(self) -> dict:
        return {"round": self.round, "losses": self.losses, "draws": self.draws, "rows": self.rows}

    def load_state_dict(self, state: dict) -> None:
        self.round = int(state["round"])
        self.losses, self.draws, self.rows = state["losses"], state["draws"], state["rows"]
