"""The maths of Backprop Playground: a NumPy multilayer perceptron whose every number shows.

Pure NumPy and the standard library — no web framework, no Pydantic, no templates — so it
is usable from a notebook with no server. Start with `examples.build("origin")`, then
`trace.trace(...)` for one fully recorded step or `train.Trainer(...).run(...)` for many.
"""
