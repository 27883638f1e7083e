"""The registry of trainable models: registered model name -> task class."""

from __future__ import annotations

from modelyard.errors import UsageError
from training.base import TrainTask
from training.moderation.task import ModerationTask
from training.ranking.task import RankingTask
from training.visual_search.task import VisualSearchTask

TASKS: dict[str, type[TrainTask]] = {
    task.name: task for task in (VisualSearchTask, ModerationTask, RankingTask)
}


def get_task(name: str) -> TrainTask:
    """A fresh task instance for ``name``; an unknown name is a usage error that lists the known ones."""
    if name not in TASKS:
        raise UsageError(f"unknown model {name!r}", hint=f"use one of: {', '.join(TASKS)}")
    return TASKS[name]()
