"""Benchmarks of Backprop Playground: run them with `python -m bench` (`make bench`)."""
