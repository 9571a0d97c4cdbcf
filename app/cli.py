"""The `backprop-playground` command: print one step as the symmetry question did.

`backprop-playground trace --example origin` prints the forward pass as augmented matrix
products, the activations a¹ … aᴸ, then for every layer from the output down the chain
rule of the origin — ∂ΣC/∂a, ∂a/∂n, their product δ — and the gradient table
[1 | aˡ⁻¹]ᵀ · δ with the bias row on top. `--iterations N` trains first; `--phase` shows
one phase of the phase stepper (a number, or forward/loss/backward/update).
"""

from __future__ import annotations

import argparse
import logging
import sys
import textwrap
from collections.abc import Sequence

import numpy as np

from .engine import examples
from .engine.diagnostics import symmetry_groups
from .engine.optimizers import new_state
from .engine.params import flat
from .engine.phases import phases
from .engine.spec import SpecError
from .engine.trace import Trace, trace, with_ones
from .engine.train import Progress, Trainer, next_rows
from .tables import matrix, product_table

SUPERSCRIPTS = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")  # uvicorn's


def sup(n: int) -> str:
    """Return n as superscript digits."""
    return str(n).translate(SUPERSCRIPTS)


def forward_text(tr: Trace, layer: int, d: int) -> str:
    """Return the forward pass of one layer: the augmented product, then a = σ(n)."""
    f = tr.forward[layer - 1]
    u = tr.update[layer - 1].old
    return "\n".join([
        f"n{sup(layer)} = [1 | a{sup(layer - 1)}] · [b{sup(layer - 1)} ; w{sup(layer - 1)}]:",
        "",
        product_table(f.augmented_input(), u.augmented(), f.z, d,
                      (f"[1 | a{sup(layer - 1)}]", f"[b{sup(layer - 1)} ; w{sup(layer - 1)}]",
                       f"n{sup(layer)}")),
        "",
        matrix(f"a{sup(layer)} = {f.activation}(n{sup(layer)})", f.a, d),
    ])


def loss_text(tr: Trace, loss_name: str, d: int) -> str:
    """Return the loss and its per-observation contributions."""
    per = ", ".join(f"{v:.{d}f}" for v in tr.loss_per_observation)
    return f"loss ({loss_name}) = {tr.loss:.{d}f}   per observation: [{per}]"


def backward_text(tr: Trace, layer: int, d: int) -> str:
    """Return the chain rule of one layer and its gradient table."""
    b = tr.backward_for(layer)
    f = tr.forward[layer - 1]
    s, p = sup(layer), sup(layer - 1)
    parts = [matrix(f"∂ΣC/∂a{s}", b.dloss_da, d)]
    if b.da_dz is not None:
        parts.append(matrix(f"∂a{s}/∂n{s}", b.da_dz, d))
    if b.combined:
        parts.append(f"({b.combined})")
    parts.append(matrix(f"δ{s} = ∂ΣC/∂n{s} = ∂a{s}/∂n{s} · ∂ΣC/∂a{s}", b.delta, d))
    parts.append(f"∂ΣC/∂w{p} = [1 | a{p}]ᵀ · δ{s}  (bias row on top):\n\n"
                 + product_table(with_ones(f.input).T, b.delta, b.augmented_gradient(), d,
                                 (f"[1 | a{p}]ᵀ", f"δ{s}", f"∂ΣC/∂w{p}")))
    return "\n\n".join(parts)


def update_text(tr: Trace, name: str, d: int) -> str:
    """Return the new augmented parameters of every transition."""
    return "\n\n".join(
        matrix(f"[b{sup(u.transition)} ; w{sup(u.transition)}] after {name}", u.new.augmented(), d)
        for u in tr.update
    )


def step_sections(tr: Trace, loss_name: str, opt_name: str, d: int) -> list[tuple[str, str]]:
    """Return (phase label, text) for every phase of the step, in order."""
    out = []
    for ph in phases(len(tr.forward)):
        if ph.kind == "forward" and ph.layer is not None:
            out.append((ph.label, forward_text(tr, ph.layer, d)))
        elif ph.kind == "backward" and ph.layer is not None:
            out.append((ph.label, backward_text(tr, ph.layer, d)))
        elif ph.kind == "loss":
            out.append((ph.label, loss_text(tr, loss_name, d)))
        else:
            out.append((ph.label, update_text(tr, opt_name, d)))
    return out


def select(sections: list[tuple[str, str]], phase: str | None) -> list[tuple[str, str]]:
    """Return the sections a --phase value asks for (all when None)."""
    if phase is None or phase == "all":
        return sections
    if phase.isascii() and phase.isdigit():
        k = int(phase)
        if not 1 <= k <= len(sections):
            raise SpecError("phase", f"must be between 1 and {len(sections)}", len(sections))
        return [sections[k - 1]]
    chosen = [s for s in sections if s[0].split()[0] == phase]
    if not chosen:
        raise SpecError("phase", "must be a number or one of forward, loss, backward, update")
    return chosen


def run_trace(args: argparse.Namespace) -> str:
    """Build the example, train if asked, and return the printed step."""
    ex = examples.build(args.example)
    spec, params = ex.spec, ex.parameters
    state = new_state(spec.optimizer, flat(params))
    progress = Progress()
    if args.iterations:
        result = Trainer(spec, ex.inputs, ex.targets).run(params, state, progress,
                                                          args.iterations)
        params, state, progress = result.parameters, result.state, result.progress
    rows = next_rows(spec, ex.inputs.shape[0], progress)
    tr = trace(spec, params, ex.inputs, ex.targets, state, rows)
    d = args.decimals
    head = [f"{ex.title}: layers {'-'.join(map(str, spec.layers))}, "
            f"{', '.join(spec.transition_activations)}, loss {spec.loss}, "
            f"{spec.optimizer.name} lr {spec.optimizer.learning_rate} — step {progress.step}"]
    if args.example == "origin":
        head.append("(The question computed in float32; float64 here can differ from its "
                    "printed digits in the 7th decimal.)")
    for layer in symmetry_groups(spec, params):
        if layer.groups:
            head.append(layer.message)
    blocks = ["\n".join(textwrap.fill(line, 80) for line in head)]
    for label, text in select(step_sections(tr, spec.loss, spec.optimizer.name, d), args.phase):
        blocks.append(f"── {label} " + "─" * max(0, 76 - len(label)) + "\n" + text)
    return "\n\n".join(blocks) + "\n"


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the command."""
    parser = argparse.ArgumentParser(prog="backprop-playground", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("trace", help="print one training step as the question's tables")
    t.add_argument("--example", default="origin", choices=sorted(examples.EXAMPLES))
    t.add_argument("--decimals", type=int, default=7, choices=range(0, 17), metavar="0-16")
    t.add_argument("--iterations", type=int, default=0, help="train this many steps first")
    t.add_argument("--phase", default=None,
                   help="only this phase: a number 1…2L+2, or forward/loss/backward/update")
    serve = sub.add_parser("serve", help="serve the playground and the JSON API")
    serve.add_argument("--host", default=None, help="default: $HOST, then 127.0.0.1")
    serve.add_argument("--port", type=int, default=None, help="default: $PORT, then 8000")
    serve.add_argument("--workers", type=int, default=None,
                       help="worker processes (default: $WORKERS, then 1)")
    serve.add_argument("--log-level", default=None, choices=LOG_LEVELS,
                       help="default: $LOG_LEVEL, then info (info logs every request)")
    serve.add_argument("--reload", action="store_true", help="restart on code changes")
    return parser


def serve(args: argparse.Namespace) -> int:
    """Run uvicorn with the app (settings from the environment)."""
    from . import serving
    from .settings import get_settings

    settings = get_settings()
    host = args.host or settings.host
    port = args.port or settings.port
    level = args.log_level or settings.log_level
    logging.basicConfig(level=logging.DEBUG if level == "trace" else level.upper())
    proxies = settings.forwarded_allow_ips or None  # X-Forwarded-For believed from these only
    serving.run("app.main:create_app", factory=True, host=host, port=port,
                workers=args.workers or settings.workers, reload=args.reload,
                log_level=level, proxy_headers=proxies is not None,
                forwarded_allow_ips=proxies, timeout_graceful_shutdown=10,
                http=serving.with_deadlines(settings.header_timeout, settings.body_timeout))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line."""
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    if args.iterations < 0:
        print("--iterations must be ≥ 0", file=sys.stderr)
        return 2
    try:
        with np.errstate(over="ignore"):
            sys.stdout.write(run_trace(args))
    except SpecError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
