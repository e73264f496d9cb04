"""MNIST data, experiment configs, the runner, reports, benchmarks and the command line."""
