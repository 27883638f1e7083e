"""The generic per-worker training loop (runs inside Ray Train workers) and its checkpoints.

Every epoch: task.augment + task.loss over this worker's shard of the ``train`` Ray Dataset,
task.loss over the ``val`` shard, losses averaged over all workers, then one checkpoint (model,
optimiser, metric history) and ``ray.train.report``. A restarted job finds the last checkpoint
through ``ray.train.get_checkpoint()`` and continues with the next epoch. The learning rate is a
closed form of where training is (``config["lr_schedule"]``: a cosine over epochs by default, or a
one-cycle over batches), so a job resumed with more epochs just follows the longer curve (no
scheduler state to carry).
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

MODEL_FILE = "model.pt"
STATE_FILE = "trainer_state.pt"
HISTORY_FILE = "history.json"
SHUFFLE_BUFFER_ROWS = 8_192
PROGRESS_EVERY_BATCHES = 10


@dataclass
class LoopState:
    """What a checkpoint restores: where training stopped and the per-epoch metrics so far."""

    next_epoch: int = 0
    history: list[dict[str, float]] = field(default_factory=list)


def cosine_lr(base_lr: float, epoch: int, epochs: int) -> float:
    """Learning rate of epoch ``epoch`` (0-based): ``base_lr`` first, decaying towards 0."""
    return base_lr * 0.5 * (1.0 + math.cos(math.pi * epoch / epochs))


def one_cycle_lr(max_lr: float, step: int, total_steps: int) -> float:
    """Learning rate of batch ``step`` (0-based) of ``total_steps``: torch's ``OneCycleLR`` with
    its defaults (cosine warm-up from max_lr / 25 over the first 30 %, then cosine annealing to
    max_lr / 25 / 1e4), as a closed form. A short run gets both a high peak rate, which fits a
    small model quickly, and a long low tail, which settles it."""
    initial_lr = max_lr / 25.0
    peak_step = 0.3 * total_steps - 1
    step = min(step, total_steps - 1)
    if step <= peak_step:
        start, end, fraction = initial_lr, max_lr, step / peak_step
    else:
        start, end, fraction = max_lr, initial_lr / 1e4, (step - peak_step) / (total_steps - 1 - peak_step)
    return end + (start - end) / 2.0 * (math.cos(math.pi * fraction) + 1.0)


def learning_rate(config: dict[str, Any], epoch: int, step: int, steps_per_epoch: int) -> float:
    """The rate for batch ``step`` (0-based) of ``epoch``: ``config["lr_schedule"]`` is
    ``"cosine"`` (per epoch, the default) or ``"one_cycle"`` (per batch)."""
    schedule = config.get("lr_schedule", "cosine")
    if schedule == "cosine":
        return cosine_lr(config["lr"], epoch, config["epochs"])
    if schedule == "one_cycle":
        return one_cycle_lr(config["lr"], epoch * steps_per_epoch + step, config["epochs"] * steps_per_epoch)
    raise ValueError(f"lr_schedule is {schedule!r}: give 'cosine' or 'one_cycle'")


def save_checkpoint(
    directory: Path, model: nn.Module, optimizer: torch.optim.Optimizer, history: list[dict[str, float]]
) -> None:
    torch.save(model.state_dict(), directory / MODEL_FILE)
    torch.save(optimizer.state_dict(), directory / STATE_FILE)
    (directory / HISTORY_FILE).write_text(json.dumps(history))


def load_model_weights(directory: Path, model: nn.Module) -> list[dict[str, float]]:
    """Load the checkpoint's weights into ``model``; returns the metric history."""
    model.load_state_dict(torch.load(directory / MODEL_FILE, map_location="cpu", weights_only=True))
    return json.loads((directory / HISTORY_FILE).read_text())


def _restore(checkpoint: Any, model: nn.Module, optimizer: torch.optim.Optimizer) -> LoopState:
    if checkpoint is None:
        return LoopState()
    with checkpoint.as_directory() as directory:
        history = load_model_weights(Path(directory), model)
        optimizer.load_state_dict(
            torch.load(Path(directory) / STATE_FILE, map_location="cpu", weights_only=True)
        )
    return LoopState(next_epoch=len(history), history=history)


def _mean_over_workers(total: float, count: int, device: torch.device) -> float:
    """Average of a per-example quantity over every worker's examples."""
    pair = torch.tensor([total, float(count)], dtype=torch.float64, device=device)
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(pair)
    return (pair[0] / pair[1].clamp(min=1)).item()


def train_loop_per_worker(loop_config: dict[str, Any]) -> None:
    """Entry point of each Ray Train worker; ``loop_config`` = task name, config, meta, progress queue."""
    # lazy: ray takes seconds to import; only this path needs it
    import ray.train
    import ray.train.torch

    from training.tasks import get_task

    task = get_task(loop_config["task"])
    config, meta = loop_config["config"], loop_config["meta"]
    progress = loop_config.get("progress")
    context = ray.train.get_context()
    rank = context.get_world_rank()
    torch.manual_seed(config.get("seed", 0) + rank)
    torch.set_num_threads(loop_config.get("threads_per_worker", 1))

    model = task.build_model(config, meta)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config["lr"], weight_decay=config.get("weight_decay", 0.0)
    )
    state = _restore(ray.train.get_checkpoint(), model, optimizer)
    model = ray.train.torch.prepare_model(model)
    device = ray.train.torch.get_device()
    train_shard = ray.train.get_dataset_shard("train")
    val_shard = ray.train.get_dataset_shard("val")
    batch_size = config["batch_size"]
    # Ray splits the train set equally between the workers, and the last partial batch is dropped.
    steps_per_epoch = max(1, loop_config["rows_per_worker"] // batch_size)

    for epoch in range(state.next_epoch, config["epochs"]):
        started = time.monotonic()
        lr = learning_rate(config, epoch, 0, steps_per_epoch)
        model.train()
        total, count = 0.0, 0
        batches = train_shard.iter_torch_batches(
            batch_size=batch_size,
            device=device,
            drop_last=True,
            local_shuffle_buffer_size=SHUFFLE_BUFFER_ROWS,
        )
        for step, batch in enumerate(batches, start=1):
            lr = learning_rate(config, epoch, step - 1, steps_per_epoch)
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss = task.loss(model, task.augment(batch, config), config)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            rows = len(next(iter(batch.values())))
            total, count = total + loss.item() * rows, count + rows
            if progress is not None and rank == 0 and step % PROGRESS_EVERY_BATCHES == 0:
                progress.put({"kind": "batch", "epoch": epoch + 1, "rows": count})
        train_loss = _mean_over_workers(total, count, device)

        model.eval()
        total, count = 0.0, 0
        with torch.no_grad():
            for batch in val_shard.iter_torch_batches(batch_size=batch_size, device=device):
                rows = len(next(iter(batch.values())))
                total += task.loss(model, batch, config).item() * rows
                count += rows
        val_loss = _mean_over_workers(total, count, device)

        metrics = {
            "epoch": epoch + 1,
            "train_loss": train_loss,
            "val_loss": val_loss,
            "lr": lr,
            "epoch_seconds": time.monotonic() - started,
        }
        state.history.append(metrics)
        with tempfile.TemporaryDirectory() as directory:
            checkpoint = None
            if rank == 0:
                save_checkpoint(Path(directory), _unwrapped(model), optimizer, state.history)
                checkpoint = ray.train.Checkpoint.from_directory(directory)
            ray.train.report(metrics, checkpoint=checkpoint)
        if progress is not None and rank == 0:
            progress.put({"kind": "epoch", **metrics})


def _unwrapped(model: nn.Module) -> nn.Module:
    """The plain module behind DistributedDataParallel (its state_dict keys have no ``module.``)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
