"""Metric points are stored by multi-row INSERTs (``BaseModel.insert_rows``): every point comes back, whole
curves at once or point by point, and a batch that fails stores none of its points; on SQLite and MariaDB."""

from __future__ import annotations

import pytest

from fate_flow.db.models import TrackingMetric
from fate_flow.entity.keys import TaskKey
from fate_flow.operation import job_tracker

TASK = TaskKey("202612010000000000009", "evaluation_0", "202612010000000000009_evaluation_0", 0, "guest", "9999")


def _metric(name: str) -> list[list]:
    return job_tracker.metric(TASK.job_id, TASK.component_name, TASK.role, TASK.party_id, "train", name)[0]


def test_a_curve_of_many_points_and_a_loss_point_by_point_come_back_whole(database: str):
    curve = [[round(i / 1000, 3), float(i) ** 0.5] for i in range(1000)]  # more points than one statement holds
    job_tracker.save_metric_meta(TASK, "train", "roc", {"metric_type": "ROC"})
    job_tracker.save_metric_data(TASK, "train", "roc", curve)
    for iteration in range(3):
        job_tracker.save_metric_data(TASK, "train", "loss", [[iteration, 1.0 / (iteration + 1)]])
    assert _metric("roc") == curve
    assert _metric("loss") == [[0, 1.0], [1, 0.5], [2, 1.0 / 3]]
    stamps = {row.f_create_time for row in TrackingMetric.select()}
    assert None not in stamps


def test_a_batch_that_fails_stores_none_of_its_points(database: str):
    points = [[i, float(i)] for i in range(200)] + [[200, object()]]  # the last value is not JSON
    with pytest.raises(TypeError):
        job_tracker.save_metric_data(TASK, "train", "ks", points)
    assert _metric("ks") == []
