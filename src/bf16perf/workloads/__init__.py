"""The workload: configuration, ResNet-50, the in-worker training loop and its launch."""
