"""The cluster itself, as the perf job sees it: every executor registered and pinned."""

from bf16perf.cluster.bringup import SparkCluster


def test_all_executors_registered(spark_cluster: SparkCluster) -> None:
    expected = spark_cluster.plan.workers if spark_cluster.plan else 1
    assert spark_cluster.executors >= expected, spark_cluster.describe()
