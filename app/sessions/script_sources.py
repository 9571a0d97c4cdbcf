"""The source snippets of the exported NumPy script (`export_script`): each activation
with its derivative, each loss with its gradient (or the output's δ directly), each
optimiser with the state it keeps, the penalties, the batching, the network's forward and
backward passes and the script's `main`. The snippets are plain Python source, written
as the learner will read it; `export_script` picks the ones a spec uses and fills in the
numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from string import Template

from app.engine.activations import LEAKY_SLOPE


@dataclass(frozen=True)
class ActivationSource:
    """An activation's source: the function and its derivative, side by side."""

    code: str
    chain: str = "dloss_da * da_dz"  # δ from ∂loss/∂a and ∂a/∂z (softmax: through a Jacobian)
    da_dz_shape: str = "(observations, outputs)"  # of ∂a/∂z at the output layer


@dataclass(frozen=True)
class LossSource:
    """A loss's source: loss(z, a, y) beside loss_gradient(a, y) or output_delta(a, y)."""

    code: str
    combined: bool = False  # True: output_delta gives the output's δ = ∂loss/∂z directly


@dataclass(frozen=True)
class OptimizerSource:
    """An optimiser's source, the state slots it keeps and the hyper-parameters it reads."""

    slots: tuple[str, ...]
    hyper: tuple[str, ...]
    code: str  # a Template: $step and $step_doc are filled for momentum


ACTIVATION_CODE: dict[str, ActivationSource] = {
    "sigmoid": ActivationSource('''
def sigmoid(z):
    """a = σ(z) = 1 / (1 + e^(−z)); for z < −709, e^(−z) overflows to inf and a is 0."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-z))


def sigmoid_derivative(z, a):
    """∂a/∂z = σ(z)(1 − σ(z)) = a(1 − a)."""
    return (1.0 - a) * a
'''),
    "tanh": ActivationSource('''
def tanh(z):
    """a = tanh(z)."""
    return np.tanh(z)


def tanh_derivative(z, a):
    """∂a/∂z = 1 − tanh²(z) = 1 − a²."""
    return 1.0 - a * a
'''),
    "relu": ActivationSource('''
def relu(z):
    """a = max(0, z)."""
    return np.maximum(z, 0.0)


def relu_derivative(z, a):
    """∂a/∂z = 1 where z > 0, else 0."""
    return np.where(z > 0.0, 1.0, 0.0)
'''),
    "leaky_relu": ActivationSource(f'''
LEAKY_SLOPE = {LEAKY_SLOPE!r}  # slope for z < 0


def leaky_relu(z):
    """a = max(LEAKY_SLOPE·z, z)."""
    return np.maximum(z, z * LEAKY_SLOPE)


def leaky_relu_derivative(z, a):
    """∂a/∂z = 1 where z > 0, else LEAKY_SLOPE."""
    return np.where(z > 0.0, 1.0, LEAKY_SLOPE)
'''),
    "linear": ActivationSource('''
def linear(z):
    """a = z."""
    return z.copy()


def linear_derivative(z, a):
    """∂a/∂z = 1."""
    return np.ones_like(z)
'''),
    "softmax": ActivationSource('''
def softmax(z):
    """a_i = e^(z_i) / Σ_j e^(z_j), row by row (shifted by the row's max: no overflow)."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def softmax_derivative(z, a):
    """∂a_i/∂z_j = a_i(δ_ij − a_j): one Jacobian per observation (observations, K, K)."""
    return a[:, :, None] * (np.eye(a.shape[1]) - a[:, None, :])
''', chain='np.einsum("oi,oij->oj", dloss_da, da_dz)',
       da_dz_shape="(observations, outputs, outputs): one Jacobian per row"),
}

LOSS_CODE: dict[str, LossSource] = {
    "sse": LossSource('''
def loss(z, a, y):
    """ΣC = Σ over observations and outputs of (a − y)²: summed, never averaged."""
    return float(np.sum((a - y) ** 2))


def loss_gradient(a, y):
    """∂ΣC/∂a = 2(a − y)."""
    return (a - y) * 2.0
'''),
    "mse": LossSource('''
def loss(z, a, y):
    """C = the mean over observations × outputs of (a − y)²."""
    return float(np.mean((a - y) ** 2))


def loss_gradient(a, y):
    """∂C/∂a = 2(a − y) / (N·K)."""
    return (a - y) * (2.0 / a.size)
'''),
    "binary_cross_entropy": LossSource('''
def log_sigmoid(z):
    """log σ(z) without overflow: −(max(−z, 0) + log(1 + e^(−|z|)))."""
    return -(np.maximum(-z, 0.0) + np.log1p(np.exp(-np.abs(z))))


def loss(z, a, y):
    """C = −mean of [y log σ(z) + (1 − y) log σ(−z)], from z so it stays finite."""
    return float(np.mean(-(y * log_sigmoid(z) + (1.0 - y) * log_sigmoid(-z))))


def output_delta(a, y):
    """δ = ∂C/∂z = (a − y) / (N·K): the sigmoid's a(1 − a) cancels the loss's denominator."""
    return (a - y) / a.size
''', combined=True),
    "cross_entropy": LossSource('''
def log_softmax(z):
    """log softmax(z), row by row, without overflow."""
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def loss(z, a, y):
    """C = −(1/N) Σ y·log softmax(z): the mean over observations, from z."""
    return float(-(y * log_softmax(z)).sum() / z.shape[0])


def output_delta(a, y):
    """δ = ∂C/∂z = (a·Σy − y) / N, which is (a − y) / N for one-hot targets."""
    return (a * y.sum(axis=1, keepdims=True) - y) / a.shape[0]
''', combined=True),
}

OPTIMIZER_CODE: dict[str, OptimizerSource] = {
    "sgd": OptimizerSource((), ("learning_rate",), '''
def update(arrays, grads, state):
    """Take one gradient-descent step in place: Δ = −η·g."""
    for p, g in zip(arrays, grads, strict=True):
        p += g * -LEARNING_RATE
'''),
    "momentum": OptimizerSource(("velocity",), ("learning_rate", "momentum"), '''
def update(arrays, grads, state):
    """Take one momentum step in place: v ← μv − η·g; $step_doc."""
    for p, g, v in zip(arrays, grads, state["velocity"], strict=True):
        v *= MOMENTUM
        v -= g * LEARNING_RATE  # v ← μv − η·g
        p += $step
'''),
    "rmsprop": OptimizerSource(("square_avg",), ("learning_rate", "rho", "epsilon"), '''
def update(arrays, grads, state):
    """Take one RMSProp step in place: s ← ρs + (1 − ρ)g²; Δ = −η·g / (√s + ε)."""
    for p, g, s in zip(arrays, grads, state["square_avg"], strict=True):
        s *= RHO
        s += g * g * (1.0 - RHO)
        p += g / (np.sqrt(s) + EPSILON) * -LEARNING_RATE
'''),
    "adam": OptimizerSource(("m", "v"), ("learning_rate", "beta1", "beta2", "epsilon"), '''
def update(arrays, grads, state):
    """Take one Adam step in place: Δ = −η·m̂ / (√v̂ + ε), m̂ and v̂ bias-corrected."""
    t = state["t"] + 1  # this update's number
    for p, g, m, v in zip(arrays, grads, state["m"], state["v"], strict=True):
        m *= BETA1
        m += g * (1.0 - BETA1)  # m ← β₁m + (1 − β₁)g
        v *= BETA2
        v += g * g * (1.0 - BETA2)  # v ← β₂v + (1 − β₂)g²
        v_hat = v * (1.0 / (1.0 - BETA2**t))
        p += m / (np.sqrt(v_hat) + EPSILON) * (-LEARNING_RATE / (1.0 - BETA1**t))
'''),
}

MOMENTUM_STEP = {  # nesterov → (the step Δ, its docstring)
    False: ("v", "Δ = v"),
    True: ("MOMENTUM * v - LEARNING_RATE * g", "Nesterov: Δ = μv − η·g"),
}

PENALTY_CODE: dict[str, str] = {  # regularisation kind → penalty_gradient(w); none adds no code
    "none": "",
    "l1": '''
def penalty_gradient(w):
    """∂(λ·Σ|W|)/∂W = λ·sign(W); biases are never penalised."""
    return REGULARIZATION_RATE * np.sign(w)
''',
    "l2": '''
def penalty_gradient(w):
    """∂(λ·½ΣW²)/∂W = λ·W; biases are never penalised."""
    return REGULARIZATION_RATE * w
''',
}

HYPER = {  # spec field → (constant, comment)
    "learning_rate": ("LEARNING_RATE", "η: the step size"),
    "momentum": ("MOMENTUM", "μ: how much of the velocity carries over"),
    "rho": ("RHO", "ρ: decay of the squared-gradient average"),
    "epsilon": ("EPSILON", "ε: added to the denominator"),
    "beta1": ("BETA1", "β₁: decay of the first moment"),
    "beta2": ("BETA2", "β₂: decay of the second moment"),
}

OUTPUT_DELTA = {  # does the loss give the output's δ directly? → how backward starts
    False: Template("""\
dloss_da = loss_gradient(activations[-1], y)  # ∂loss/∂a: (observations, outputs)
da_dz = DERIVATIVES[-1](zs[-1], activations[-1])  # ∂a/∂z: $shape
delta = $chain  # ∂loss/∂z: (observations, outputs)"""),
    True: Template("""\
# ∂loss/∂z straight from the loss and the output activation together: (observations, outputs)
delta = output_delta(activations[-1], y)"""),
}

NETWORK = Template('''
ACTIVATIONS = [$activations]  # layers 1…L
DERIVATIVES = [$derivatives]


def forward(weights, biases, x):
    """Return z and a of every layer, input first in `activations` (a⁰ = x)."""
    zs, activations = [], [x]
    for w, b, f in zip(weights, biases, ACTIVATIONS, strict=True):
        z = activations[-1] @ w + b  # (observations, fan_out)
        zs.append(z)
        activations.append(f(z))  # (observations, fan_out)
    return zs, activations


def backward(weights, zs, activations, y):
    """Return ∂loss/∂W and ∂loss/∂b of every transition, from the output layer down."""
    grads_w, grads_b = [None] * len(weights), [None] * len(weights)
$output_delta
    for l in reversed(range(len(weights))):  # transition l feeds layer l + 1
        grads_w[l] = activations[l].T @ delta  # (fan_in, fan_out)
        grads_b[l] = delta.sum(axis=0)  # (fan_out,)
        if l:  # carry δ down to layer l
            dloss_da = delta @ weights[l].T  # ∂loss/∂a: (observations, fan_in)
            da_dz = DERIVATIVES[l - 1](zs[l - 1], activations[l])  # (observations, fan_in)
            delta = dloss_da * da_dz  # ∂loss/∂z: (observations, fan_in)
    return grads_w, grads_b


def train_step(weights, biases, state, x, y):
    """Take one update on the rows (x, y): forward, backward, penalty, optimiser step."""
    zs, activations = forward(weights, biases, x)
    grads_w, grads_b = backward(weights, zs, activations, y)
$penalty    arrays = [p for pair in zip(weights, biases, strict=True) for p in pair]  # W0, b0, …
    grads = [g for pair in zip(grads_w, grads_b, strict=True) for g in pair]
    update(arrays, grads, state)
    state["t"] += 1


def full_loss(weights, biases):
    """Return the loss over all the data (without the penalty, as the playground shows it)."""
    zs, activations = forward(weights, biases, INPUTS)
    return loss(zs[-1], activations[-1], TARGETS)
''')

PENALTY_LINES = '''    for l, w in enumerate(weights):
        grads_w[l] += penalty_gradient(w)
'''

BATCHING: dict[str, str] = {
    "full": '''
def train(weights, biases, state, iterations):
    """Take `iterations` full-batch updates; return the final (step, epoch, cursor)."""
    step, epoch, cursor = STEP, EPOCH, CURSOR
    for done in range(1, iterations + 1):
        train_step(weights, biases, state, INPUTS, TARGETS)  # every row, in order
        step, epoch, cursor = step + 1, epoch + 1, 0  # one update is one pass
        if done % PRINT_EVERY == 0 or done == iterations:
            print(f"step {step:>7}  loss {full_loss(weights, biases)!r}")
    return step, epoch, cursor
''',
    "mini": '''
def batch_order(epoch):
    """Return the order in which `epoch` visits the rows (as the playground shuffles)."""
    return np.random.default_rng([SHUFFLE_SEED, epoch]).permutation(len(INPUTS))


def train(weights, biases, state, iterations):
    """Take `iterations` mini-batch updates; return the final (step, epoch, cursor)."""
    step, epoch, cursor = STEP, EPOCH, CURSOR
    order = batch_order(epoch)
    for done in range(1, iterations + 1):
        rows = order[cursor : cursor + BATCH_SIZE]  # the epoch's last batch may be smaller
        train_step(weights, biases, state, INPUTS[rows], TARGETS[rows])
        step, cursor = step + 1, cursor + BATCH_SIZE
        if cursor >= len(INPUTS):  # the epoch is over: the next one reshuffles
            epoch, cursor = epoch + 1, 0
            order = batch_order(epoch)
        if done % PRINT_EVERY == 0 or done == iterations:
            print(f"step {step:>7}  epoch {epoch:>6}  loss {full_loss(weights, biases)!r}")
    return step, epoch, cursor
''',
}

MAIN = '''
def to_json(value):
    """Return dicts, lists and numbers as JSON text; repr() keeps every float64 exact."""
    if isinstance(value, dict):
        return "{" + ", ".join(f'"{k}": {to_json(v)}' for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(to_json(v) for v in value) + "]"
    if isinstance(value, int):
        return str(value)
    text = repr(float(value))
    return {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}.get(text, text)


def main():
    """Continue training from the exported state; print outputs and final parameters."""
    np.set_printoptions(floatmode="unique")  # print every float in full (it round-trips)
    weights = [w.copy() for w in WEIGHTS]
    biases = [b.copy() for b in BIASES]
    state = {name: [s.copy() for s in arrays] for name, arrays in OPTIMIZER_SLOTS.items()}
    state["t"] = UPDATES_TAKEN
    print(f"step {STEP:>7}  loss {full_loss(weights, biases)!r}  (as exported)")
    step, epoch, cursor = train(weights, biases, state, ITERATIONS)
    print(f"\\nafter {ITERATIONS} updates: step {step}, epoch {epoch}, cursor {cursor}")
    print("outputs for the inputs (observations, outputs):")
    print(repr(forward(weights, biases, INPUTS)[1][-1]))
    for l, (w, b) in enumerate(zip(weights, biases, strict=True)):
        print(f"weights[{l}] (layer {l} -> {l + 1}):\\n{w!r}\\nbiases[{l}]:\\n{b!r}")
    final = [{"weights": w.tolist(), "biases": b.tolist()}
             for w, b in zip(weights, biases, strict=True)]
    print(PARAMETERS_MARKER + to_json(final))
    print(PROGRESS_MARKER + to_json({"step": step, "epoch": epoch, "cursor": cursor}))


if __name__ == "__main__":
    main()
'''
