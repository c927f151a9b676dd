"""Samplers (`synthforge_hf.data.sampling`): uniform sampling is today's bit for bit, guided sampling
spends more proposals where losses are high while its uniform floor holds, proposals are a pure
function of the seed and the state, and ranks and workers get disjoint proposals."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from synthforge_hf.data.sampling import (
    ControlSpace,
    GuidedSampler,
    PoolSampler,
    Proposals,
    TargetSampler,
    UniformSampler,
    reflect_into_unit,
)
from synthforge_hf.data.shards import sample_seed
from synthforge_hf.pipelines.synthforge.sampling import SamplingRanges, sample_parameters
from synthforge_hf.training.common import check_arguments
from synthforge_hf.training.photo_targets import (
    mirrored_landmarks,
    procrustes_residuals,
    projected_landmarks,
)
from synthforge_hf.training.sampled import ControlMap, GeneratedBatches, rank_major
from synthforge_hf.training.sb import SBTrainingArguments


@pytest.fixture(scope="module")
def space(pipe):
    return ControlSpace(pipe)


def test_uniform_proposals_are_todays_parameters_bit_for_bit(space):
    head_ranges = [SamplingRanges(), SamplingRanges(roll=0.3, jaw_open=0.4), SamplingRanges(expression=3.0)]
    seeds = [0, 1, 2**62, 12345]
    for ranges, bounds in zip(head_ranges, [None, None, (0.0, 1.0)], strict=True):
        space.ranges, space.expression_bounds = ranges, bounds
        drawn, _ = sample_parameters(seeds, space.num_shape, space.num_expression, ranges, bounds)
        mapped = space.parameters(space.of_seeds(seeds).units)
        for name, value in mapped.items():
            assert value.dtype == getattr(drawn, name).dtype
            assert torch.equal(value, getattr(drawn, name)), (ranges, name)
    space.ranges, space.expression_bounds = SamplingRanges(), None


def test_uniform_sampler_renders_the_train_split_of_make_dataset(space):
    proposals = UniformSampler(space, seed=3).propose(micro_step=2, count=4)
    assert proposals.seeds.tolist() == [sample_seed(3, "train", i) for i in range(8, 12)]


def _guided(space, **kwargs) -> GuidedSampler:
    return GuidedSampler(space, seed=1, refresh_steps=4, memory=4000, **kwargs)


def _feed_losses_high_at_large_yaw(sampler, space, steps: int = 4, count: int = 250) -> None:
    """Record losses that are high where the camera yaw control lies in its top fifth."""
    yaw = space.index("yaw")
    for step in range(steps):
        proposals = sampler.propose(step, count)
        sampler.record(proposals, (proposals.units[:, yaw] > 0.8).float() + 0.01 * proposals.units[:, 0])
    sampler.start_round(1)


def test_guided_sampling_concentrates_where_the_loss_is_while_the_floor_holds(space):
    sampler = _guided(space)
    yaw = space.index("yaw")
    uniform_share = (UniformSampler(space, 1).propose(10, 2000).units[:, yaw] > 0.8).float().mean()
    _feed_losses_high_at_large_yaw(sampler, space)
    proposals = sampler.propose(10, 2000)
    guided_share = (proposals.units[:, yaw] > 0.8).float().mean()
    assert uniform_share == pytest.approx(0.2, abs=0.03)
    assert guided_share > 3 * uniform_share  # a loss concentrated in one fifth draws 3x the proposals
    floor = math.ceil(0.25 * 2000)
    uniform = UniformSampler(space, 1).propose(10, 2000)[:floor]
    assert torch.equal(proposals.seeds[:floor], uniform.seeds)  # the uniform floor: a quarter, as stated
    assert torch.equal(proposals.units[:floor], uniform.units)
    assert bool(((proposals.units >= 0) & (proposals.units <= 1)).all())
    # the other controls are searched around the parents too, not pinned: their spread stays wide
    assert proposals.units[floor:, 0].std() > 0.2


def test_guided_proposals_are_a_pure_function_of_seed_and_state(space):
    first, second = _guided(space), _guided(space)
    _feed_losses_high_at_large_yaw(first, space)
    second.load_state_dict({k: v.clone() if torch.is_tensor(v) else v for k, v in first.state_dict().items()})
    for step in (4, 5, 9):
        a, b = first.propose(step, 16), second.propose(step, 16)
        assert torch.equal(a.seeds, b.seeds) and torch.equal(a.units, b.units)
    assert not torch.equal(first.propose(4, 16).units, first.propose(5, 16).units)
    other = GuidedSampler(space, seed=2, refresh_steps=4, memory=4000)
    other.load_state_dict(first.state_dict())
    assert not torch.equal(other.propose(4, 16).units, first.propose(4, 16).units)


def test_before_any_loss_guided_sampling_is_uniform(space):
    assert torch.equal(_guided(space).propose(3, 8).seeds, UniformSampler(space, 1).propose(3, 8).seeds)


def test_reflection_into_the_cube_by_hand():
    folded = reflect_into_unit(torch.tensor([-0.25, 0.0, 0.5, 1.0, 1.25, 2.5, -1.5]))
    torch.testing.assert_close(folded, torch.tensor([0.25, 0.0, 0.5, 1.0, 0.75, 0.5, 0.5]))


def test_target_sampling_goes_where_the_targets_are_by_their_weights(space):
    targets = torch.full((2, space.dim), 0.5)
    targets[0, space.index("yaw")], targets[1, space.index("yaw")] = 0.1, 0.9
    sampler = TargetSampler(space, targets, torch.tensor([3.0, 1.0]), seed=0, spread=0.02)
    yaw = sampler.propose(0, 4000).units[1000:, space.index("yaw")]
    near_first, near_second = (yaw < 0.2).float().mean(), (yaw > 0.8).float().mean()
    assert near_first + near_second > 0.99
    assert near_first / near_second == pytest.approx(3.0, rel=0.15)
    with pytest.raises(ValueError, match="targets must be"):
        TargetSampler(space, torch.zeros(2, 3), torch.ones(2))


def test_pool_draws_high_loss_rows_more_without_repeats_in_a_round():
    sampler = PoolSampler(num_rows=400, count=10, seed=0, refresh_steps=10, temperature=2.0)
    first_round = torch.cat([sampler.propose(step, 10) for step in range(10)])
    assert len(set(first_round.tolist())) == 100  # without replacement
    sampler.record(torch.arange(400), (torch.arange(400) < 40).float() * 3.0)  # rows 0..39 are hard
    p = sampler.probabilities()
    assert float(p[0] / p[100]) == pytest.approx(math.exp(6.0), rel=1e-4)  # softmax(2 * loss)
    draws = []
    for round_index in range(1, 21):
        sampler.start_round(round_index)
        draws.append(torch.cat([sampler.propose(round_index * 10 + s, 10) for s in range(10)]))
    hard_share = (torch.cat(draws) < 40).float().mean()
    assert hard_share > 3 * 0.1  # the hard tenth of the pool gets more than three times its share
    again = PoolSampler(num_rows=400, count=10, seed=0, refresh_steps=10, temperature=2.0)
    again.load_state_dict(sampler.state_dict())
    assert torch.equal(again.propose(200, 10), sampler.propose(200, 10))
    with pytest.raises(ValueError, match="fewer than one round"):
        PoolSampler(num_rows=50, count=10, refresh_steps=10)


def test_ranks_get_disjoint_proposals_in_gather_order(pipe, space):
    sampler = UniformSampler(space, seed=0)
    make = lambda examples, generator: {"index": torch.stack([e["index"] for e in examples])}  # noqa: E731
    per_rank = [
        GeneratedBatches(pipe, sampler, 16, make, 3, 0, 4, process_index=r, num_processes=2)[1]["index"]
        for r in range(2)
    ]
    assert sorted(torch.cat(per_rank).tolist()) == list(range(6, 12))  # step 1's six samples, each once
    keys = torch.arange(6)
    assert rank_major(keys, 2).tolist() == [0, 2, 4, 1, 3, 5]  # rank 0's rows, then rank 1's
    assert torch.equal(torch.cat(per_rank), rank_major(torch.arange(6, 12), 2))


def test_workers_make_the_same_batches_as_the_main_process(pipe, space):
    sampler = _guided(space)
    _feed_losses_high_at_large_yaw(sampler, space, count=40)
    make = lambda examples, generator: {"pixel_values": torch.stack([e["pixel_values"] for e in examples])}  # noqa: E731
    batches = GeneratedBatches(pipe, sampler, 16, make, 4, 0, 4)
    in_workers = list(DataLoader(batches, batch_size=None, num_workers=2))
    for step, batch in enumerate(in_workers):
        assert torch.equal(batch["pixel_values"], batches[step]["pixel_values"])


def test_projected_landmarks_are_the_rendered_ones(pipe, space):
    proposals = GuidedSampler(space).propose(0, 3)
    rendered = space.render(pipe, proposals, resolution=64).landmarks_2d
    torch.testing.assert_close(projected_landmarks(pipe, space, proposals, 64), rendered, atol=1e-3, rtol=0)


def test_procrustes_residual_ignores_position_scale_and_rotation():
    rng = np.random.default_rng(0)
    face = rng.normal(size=(68, 2))
    angle = 0.7
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = 3.0 * face @ rotation.T + np.array([10.0, -4.0])
    other = rng.normal(size=(68, 2))
    residuals = procrustes_residuals(face[None], np.stack([moved, other]))
    assert residuals[0, 0] == pytest.approx(0.0, abs=1e-9)
    assert residuals[0, 1] > 0.5
    mirrored = face * np.array([-1.0, 1.0])  # a mirror image is not a rotation
    assert procrustes_residuals(face[None], mirrored[None])[0, 0] > 0.1


def test_mirroring_landmarks_twice_gives_them_back():
    points = np.random.default_rng(1).uniform(0, 50, size=(2, 68, 2))
    once = mirrored_landmarks(points, width=50)
    assert not np.allclose(once, points)
    np.testing.assert_allclose(mirrored_landmarks(once, width=50), points)
    np.testing.assert_allclose(once[0, 0, 0], 50 - points[0, 16, 0])  # the jaw's ends swap sides


def test_control_map_bins_by_hand():
    control_map = ControlMap(yaw_range=50.0, pitch_range=25.0)  # bins of 20 and 10 degrees
    control_map.add(
        np.array([0.0, 5.0, 40.0, 40.0]),
        np.array([0.0, 0.0, -25.0, -25.0]),
        np.array([0.1, 0.3, 0.2, np.nan]),
    )
    report = control_map.to_dict()
    assert report["counts"][2][2] == 2 and report["training_nme"][2][2] == pytest.approx(0.2)
    assert report["counts"][0][4] == 1 and report["training_nme"][0][4] == pytest.approx(0.2)
    assert sum(map(sum, report["counts"])) == 3  # the face without an NME is not counted
    assert control_map.picture().width > 0


def test_an_option_added_later_does_not_stop_a_resume(tmp_path):
    args = SBTrainingArguments(output_dir=str(tmp_path), data="faces")
    check_arguments(args, tmp_path, True)
    recorded = tmp_path / "training_args.json"
    import json

    old = json.loads(recorded.read_text())
    del old["sampling"], old["refresh_steps"]  # a run made before these options existed
    recorded.write_text(json.dumps(old))
    check_arguments(args, tmp_path, True)
    with pytest.raises(ValueError, match="sampling: 'uniform' -> 'pool'"):
        check_arguments(
            SBTrainingArguments(output_dir=str(tmp_path), data="faces", sampling="pool"), tmp_path, True
        )


@pytest.mark.parametrize(
    "options, message",
    [
        ({"sampling": "pool"}, "--sampling pool re-weights the rows of a dataset"),
        ({"sampling": "guided", "data": "faces"}, "--sampling guided generates its faces"),
        ({"sampling": "target"}, "--target-photos goes with --sampling target"),
        ({"target_photos": "photos"}, "--target-photos goes with --sampling target"),
        ({"uniform_share": 1.5}, "--uniform-share must lie in"),
        ({"data": "faces", "pipeline": "pipe"}, "give one of them"),
    ],
)
def test_sampling_options_are_checked(options, message):
    with pytest.raises(ValueError, match=message):
        SBTrainingArguments(output_dir="run", **options)


def test_proposals_slice_and_concatenate():
    proposals = Proposals(torch.arange(4), torch.rand(4, 3))
    again = Proposals.cat([proposals[:1], proposals[1:]])
    assert torch.equal(again.seeds, proposals.seeds) and len(again) == 4


def test_splits_get_their_own_proposals(space):
    train, validation = (
        _guided(space),
        GuidedSampler(space, seed=1, refresh_steps=4, memory=4000, split="validation"),
    )
    _feed_losses_high_at_large_yaw(train, space)
    validation.load_state_dict(train.state_dict())
    a, b = train.propose(4, 16), validation.propose(4, 16)
    assert not set(a.seeds.tolist()) & set(b.seeds.tolist())
    assert not torch.isclose(a.units[:, None], b.units[None]).all(-1).any()


class _OneProcess:
    num_processes = 1

    @staticmethod
    def gather(values: torch.Tensor) -> torch.Tensor:
        return values


def test_the_step_feeds_its_samples_landmark_error_to_the_sampler(pipe, space):
    from types import SimpleNamespace

    from synthforge_hf.models.synthforge import SynthForgeConfig
    from synthforge_hf.training.sampled import SamplerFeedback

    sampler = _guided(space)
    batches = GeneratedBatches(pipe, sampler, 16, None, 2, 0, 4)
    target = torch.zeros(2, 68, 2)
    target[:, 45, 0] = 10.0  # outer eye corners 10 px apart: the NME's normaliser
    shift = torch.tensor([[1.0, 0.0], [0.0, 2.0]])  # every point 1 px right / 2 px down
    out = SimpleNamespace(
        landmarks=target + shift[:, None],
        logits=torch.zeros(2, 20, 8, 8),
        depth=torch.zeros(2, 8, 8),
        heatmaps=torch.zeros(2, 68, 2, 2),
    )
    batch = {
        "labels": torch.zeros(2, 8, 8, dtype=torch.long),
        "depth": torch.zeros(2, 8, 8),
        "landmarks": target,
    }
    control_map = ControlMap(yaw_range=46.0, pitch_range=46.0)
    SamplerFeedback(batches, _OneProcess(), SynthForgeConfig.tiny(), control_map, loss="landmarks")(
        3, out, batch
    )
    torch.testing.assert_close(sampler.losses, torch.tensor([0.1, 0.2]))
    torch.testing.assert_close(sampler.recorded.units, sampler.propose(3, 2).units)  # the step's own faces
    assert sum(map(sum, control_map.to_dict()["counts"])) == 2
    SamplerFeedback(batches, _OneProcess(), SynthForgeConfig.tiny(), None)(4, out, batch)
    assert bool((sampler.losses[2:] > 1.0).all())  # the total loss: cross-entropy of 20 equal logits, ln 20
