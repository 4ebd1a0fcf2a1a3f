"""AdamW's state through a level change (carry_optimizer): the moments mapped with the weights.

Weights map by coalescing C and de-coalescing D (coalesce.py), with C D = I. Gradients are covectors
and map by the adjoints. If W_big = D(W_small), the chain rule gives g_small = D^T(g_big), so
shrinking applies the adjoint of de-coalescing; where de-coalescing preserves the function (width),
the grown model's copies receive equal gradients, exactly g_big = C^T(g_small), so growing applies
the adjoint of coalescing; D^T C^T = (C D)^T = I makes the round trip exact. The adjoint of a
linear map is its vector-Jacobian product: autograd computes it from the weights' own map, so the
gradient maps are the operators' transposes by construction, not a second implementation of them.

Adam's moments, {name: {'exp_avg': m, 'exp_avg_sq': v, 'step': t}}, then map as:
    m -> A m             m is an average of gradients, and A (the gradient map) is linear;
    v -> (A sqrt(v))^2   v averages squared gradients. Growing, A copies each entry with one
                         coefficient, so this is exact while the copies get the same gradients.
                         Shrinking, A sums a group of entries, and (sum of a sqrt(v))^2 is the
                         second moment of the sum when the group's gradients are perfectly
                         correlated, as they are in a de-coalesced model; otherwise it is larger
                         than the true one, so the first steps after the change are smaller, never
                         larger.
Adam's update m / sqrt(v) of a grown weight is then the small weight's update, copied.
"""
import torch

from coalesce import resize_state, resized_config


def gradient_map(model, tensors, width, depth, depth_pairing, shrink, depth_copies='half'):
    """Tensors shaped like `model`'s parameters ({name: tensor}) mapped as their gradients map when
    `model` is coalesced (shrink) or de-coalesced: the adjoint of the weights' map the other way,
    from the other level, as a vector-Jacobian product. Float64."""
    if depth and depth_copies == 'identity':
        raise ValueError("depth_copies='identity' layers are not copies of the small ones: their "
                         "gradients have no map; use 'half' or 'full'")
    with torch.device('meta'):  # the other level's class and config: shapes only
        other = type(model)(resized_config(model.config, width, depth, shrink))
    primal = {name: torch.zeros(p.shape, dtype=torch.float64, requires_grad=True)
              for name, p in other.named_parameters()}
    with torch.enable_grad():
        weights = resize_state(other, primal, width, depth, depth_pairing, not shrink, depth_copies)
        names = list(weights)
        mapped = torch.autograd.grad([weights[n] for n in names], list(primal.values()),
                                     grad_outputs=[tensors[n].double() for n in names])
    return dict(zip(primal, mapped))


def resize_moments(model, moments, width, depth, depth_pairing, shrink, depth_copies='half'):
    """Adam's state of `model`'s parameters mapped with the model through a level change (see
    above)."""
    resize = dict(width=width, depth=depth, depth_pairing=depth_pairing, shrink=shrink,
                  depth_copies=depth_copies)
    m = gradient_map(model, {n: s['exp_avg'] for n, s in moments.items()}, **resize)
    root_v = gradient_map(model, {n: s['exp_avg_sq'].sqrt() for n, s in moments.items()}, **resize)
    step = next(iter(moments.values()))['step']
    return {name: {'exp_avg': m[name], 'exp_avg_sq': root_v[name].square(), 'step': step}
            for name in m}


def interpolate_moments(a, b, alpha):
    """Adam's state for interpolate(model_a, model_b, alpha), from the states a and b of the two
    models. Where the loss is locally quadratic the gradient is affine in the weights, so the
    interpolated model's gradient is the same mix of theirs: m mixes linearly, and sqrt(v) too
    (the root mean square of a mix of perfectly correlated gradients). The step count, for Adam's
    bias correction, is b's (the grown model's)."""
    def mix(x, y):
        return (1 - alpha) * x + alpha * y
    return {name: {'exp_avg': mix(sa['exp_avg'], b[name]['exp_avg']),
                   'exp_avg_sq': mix(sa['exp_avg_sq'].sqrt(),
                                     b[name]['exp_avg_sq'].sqrt()).square(),
                   'step': b[name]['step']}
            for name, sa in a.items()}


def adam_moments(model, optimizer):
    """AdamW's state by parameter name. A stage of 0 steps (plain growth's way down) leaves no
    state: zeros at step 0, which AdamW treats as a fresh start."""
    def state(p):
        if p in optimizer.state:
            return dict(optimizer.state[p])
        return {'step': torch.tensor(0.0), 'exp_avg': torch.zeros_like(p),
                'exp_avg_sq': torch.zeros_like(p)}
    return {name: state(p) for name, p in model.named_parameters()}


def load_adam_moments(model, optimizer, moments):
    """Put moments (by parameter name, as adam_moments gives them) into a fresh AdamW of model, cast
    to each parameter's dtype and device."""
    for name, p in model.named_parameters():
        state = moments[name]
        optimizer.state[p] = {'step': step_count(optimizer, p, state['step']),
                              'exp_avg': state['exp_avg'].to(p.device, p.dtype),
                              'exp_avg_sq': state['exp_avg_sq'].to(p.device, p.dtype)}


def load_optimizer_state(optimizer, state):
    """optimizer.load_state_dict(state) that keeps this optimizer's kernel (fused or not, as
    step.build_optimizer chose for this device): a checkpoint written with the fused AdamW (CUDA,
    CPU) resumes on a device without it (MPS, XPU), and back."""
    kernel = {key: optimizer.defaults[key] for key in ('fused', 'foreach', 'capturable')}
    optimizer.load_state_dict(state)
    for group in optimizer.param_groups:
        group.update(kernel)
        for p in group['params']:
            if 'step' in optimizer.state.get(p, {}):
                optimizer.state[p]['step'] = step_count(optimizer, p, optimizer.state[p]['step'])


def step_count(optimizer, p, step):
    """Adam's step count t for parameter p where optimizer's kernel keeps it: a float32 tensor on
    p's device for the fused (or capturable) AdamW, on the host for the others."""
    on_device = optimizer.defaults['fused'] or optimizer.defaults['capturable']
    return step.to(p.device if on_device else 'cpu', torch.float32).clone()
