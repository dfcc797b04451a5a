#!/usr/bin/env python
"""Counted events of the CUDA path, measured on the CPU with `mmrepro.fakecuda` (a pretend GPU that computes on the CPU).

For every registered method (default options; `unimodal` on the visual modality): one epoch of --steps training steps
on tiny synthetic data (real visual augmentation) on the pretend GPU, counting what a real GPU would pay for:

- host syncs per training step (`.item()`, `.tolist()`, `float()`/`int()`/`bool()` of a GPU tensor, GPU-to-host copies,
  value-dependent shapes such as boolean masks and `nonzero`), split into the step itself and the epoch's end;
- host-to-device copies per step, with the data on the GPU (`data_on_device` auto, the cache fits) and on the host (the
  pretend GPU reports 1 KiB free): blocking copies against asynchronous ones from pinned memory;
- under `amp='fp16'` (a GPU without native bf16), the syncs of the grad scaler.

And the evaluation of a cached video dataset (`ClipTransform`, eval mode): copies per batch, on this commit and on
--before (a git revision; default e7a3ccf, before the CUDA-path issue), whose `frontends.py` / `datasets/spec.py` are
imported from `git show` into a temporary package copy.

    python benchmarks/bench_cuda_path.py
Results: benchmarks/results/cuda_path_cpu.json and the `<!-- bench_cuda_path -->` section of benchmarks/RESULTS.md.
"""
import argparse, datetime, shutil, subprocess, sys, tempfile, warnings
from unittest import mock
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent)); from _md import replace_section  # noqa: E402
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path: sys.path.insert(0, str(ROOT))
import torch  # noqa: E402
MARKER = '<!-- bench_cuda_path -->'


def epoch_counts(name:str, steps:int, amp:str='off', free_memory:int=40 * 2**30, bf16:bool=True) -> dict:
    "Events of one training epoch of method `name` on the pretend GPU, per phase."
    import mmrepro.methods  # noqa: F401
    from mmrepro.experiment import run_experiment
    from mmrepro.train import Trainer, METHODS
    from mmrepro.fakecuda import fake_cuda
    cls = METHODS.get(name)
    cfg = dict(data=dict(name='synthetic', n_train=16 * steps, n_val=16, n_test=16, image_size=16),
               method=dict(name=name, **({'modality': 'visual'} if name == 'unimodal' else {})),
               train=dict(epochs=1, batch_size=16, device='cuda', progress=False, amp=amp, lr=0.01))
    te, es = Trainer.train_epoch, cls.on_epoch_start
    with fake_cuda(bf16_supported=bf16, free_memory=free_memory) as m, warnings.catch_warnings():
        warnings.simplefilter('ignore')
        def train_epoch(self, epoch):
            with m.in_phase('train'): return te(self, epoch)
        def on_epoch_start(self, state):   # the method's per-epoch work (a GMM refit) is not the step's
            with m.in_phase('hooks'): return es(self, state)
        with mock.patch.object(Trainer, 'train_epoch', train_epoch), mock.patch.object(cls, 'on_epoch_start', on_epoch_start):
            run_experiment(cfg, tempfile.mkdtemp())
    return {e: n for (p, e), n in m.counts.items() if p == 'train'}


def eval_copies(root:Path, batches:int=3) -> dict:
    "Events of `batches` evaluation batches of `ClipTransform` imported from the package at `root`."
    for k in [k for k in sys.modules if k == 'mmrepro' or k.startswith('mmrepro.')]: del sys.modules[k]
    sys.path.insert(0, str(root))
    try:
        from mmrepro.datasets.spec import ClipTransform
        sys.path.remove(str(root)); sys.path.insert(0, str(ROOT))
        from mmrepro.fakecuda import fake_cuda   # the counter of this commit (the old package has none)
        with fake_cuda() as m:
            tf = ClipTransform(frame_counts=[5, 3, 4, 6], n_frames=3, image_size=16)
            b = {'x': {'visual': torch.randint(0, 255, (4, 6, 3, 20, 20), dtype=torch.uint8, device='cuda')},
                 'y': torch.zeros(4, dtype=torch.long, device='cuda'), 'idx': torch.arange(4, device='cuda')}
            tf(b, False)
            with m.in_phase('eval'):
                for _ in range(batches): tf(b, False)
        return {e: n / batches for (p, e), n in m.counts.items() if p == 'eval'}
    finally:
        if str(root) in sys.path: sys.path.remove(str(root))
        for k in [k for k in sys.modules if k == 'mmrepro' or k.startswith('mmrepro.')]: del sys.modules[k]


def old_package(rev:str) -> Path:
    "A temporary copy of this package with `frontends.py` and `datasets/spec.py` as at `rev`."
    d = Path(tempfile.mkdtemp()); shutil.copytree(ROOT/'mmrepro', d/'mmrepro')
    for f in ('mmrepro/frontends.py', 'mmrepro/datasets/spec.py'):
        (d/f).write_text(subprocess.run(['git', 'show', f'{rev}:{f}'], cwd=ROOT, capture_output=True, text=True, check=True).stdout)
    return d


def graph_breaks() -> dict:
    "torch.compile graph breaks (`torch._dynamo.explain`) of joint training's step, CAL's hooked encoder and the visual augmentation."
    import torch._dynamo
    from mmrepro.encoders import build_model
    from mmrepro.methods.cal import grad_scale_hook
    from mmrepro.frontends import BatchVisualAugment
    from mmrepro.train import Method, TrainState
    def breaks(f, *a): torch._dynamo.reset(); return torch._dynamo.explain(f)(*a).graph_break_count
    m = build_model({'a': (1, 16, 16), 'v': (3, 2, 16, 16)}, 3, encoder='small_cnn', encoder_opts=dict(width=4, out_dim=8))
    x, y = {'a': torch.randn(4, 1, 16, 16), 'v': torch.randn(4, 3, 2, 16, 16)}, torch.tensor([0, 1, 2, 0])
    box = {'a': torch.tensor(.5), 'v': torch.tensor(2.)}
    out = dict(joint_step=breaks(lambda x: Method().training_step(m, dict(x=x, y=y), TrainState())[0], x),
               cal_hooked_encoder=breaks(lambda x: m.encode(x, map_hooks={k: grad_scale_hook(box, k) for k in x})['v'], x),
               visual_augment=breaks(lambda f: BatchVisualAugment(size=8)(f, True, torch.Generator().manual_seed(0)),
                                     torch.zeros(2, 2, 3, 16, 16, dtype=torch.uint8)))
    torch._dynamo.reset(); return out


def cudnn_on_gpu_run() -> dict:
    "The cuDNN autotuner flag during a pretend-GPU run, deterministic or not (restored afterwards)."
    from mmrepro.experiment import build_run, default_config, merge_config
    from mmrepro.train import Trainer
    from mmrepro.fakecuda import fake_cuda
    old, out = torch.backends.cudnn.benchmark, {}
    for det in (False, True):
        cfg = merge_config(default_config(), dict(data=dict(name='synthetic', n_train=16, n_val=8, n_test=8, image_size=16),
                                                  train=dict(epochs=1, device='cuda', progress=False, deterministic=det)))
        with fake_cuda():
            data, model, method, tcfg = build_run(cfg); Trainer(model, data, method, tcfg, tempfile.mkdtemp())._setup()
            out['deterministic' if det else 'default'] = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = old
    return out


def syncs(c:dict) -> int: return sum(n for e, n in c.items() if e.startswith('sync:'))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--steps', type=int, default=4); ap.add_argument('--before', default='e7a3ccf')
    ap.add_argument('--out', default=str(ROOT/'benchmarks'/'results')); ap.add_argument('--md', default=str(ROOT/'benchmarks'/'RESULTS.md'))
    a = ap.parse_args(argv)
    import mmrepro.methods  # noqa: F401
    from mmrepro.train import METHODS
    from mmrepro.core import atomic_write_json, versions
    rows = {n: epoch_counts(n, a.steps) for n in METHODS.names()}
    host = epoch_counts('joint', a.steps, free_memory=1024)
    fp16 = epoch_counts('joint', a.steps, amp='fp16', bf16=False)
    breaks, cudnn = graph_breaks(), cudnn_on_gpu_run()
    ev_now, ev_old = eval_copies(ROOT), eval_copies(old_package(a.before))
    res = dict(command=' '.join(['python benchmarks/bench_cuda_path.py'] + (argv if argv is not None else sys.argv[1:])),
               when=datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%dT%H:%M'), steps=a.steps, methods=rows,
               host_data_joint=host, fp16_joint=fp16, graph_breaks=breaks, cudnn_benchmark=cudnn, eval_per_batch=dict(now=ev_now, before=ev_old, before_rev=a.before),
               versions=versions())
    Path(a.out).mkdir(parents=True, exist_ok=True); atomic_write_json(Path(a.out)/'cuda_path_cpu.json', res)
    replace_section(Path(a.md), MARKER, render(res))
    print(render(res))


def render(r:dict) -> str:
    "The RESULTS.md section of a results dict."
    s = r['steps']
    lines = [MARKER, '## The CUDA path: counted events on a pretend GPU (`mmrepro.fakecuda`)', '',
             f"Generated by `benchmarks/bench_cuda_path.py` (`{r['command']}`, {r['when']} UTC, torch {r['versions']['torch']}). "
             f"One epoch of {s} steps of each method on tiny synthetic data on the pretend GPU (the CPU computes; every "
             "CUDA rule on device mixes is kept). The two host reads at the epoch end are the mean logs and "
             "the non-finite check; a method's own per-epoch reads (GMM refit, misaligned validation) happen in its hooks, "
             "outside the counted epoch.", '',
             '| method | host syncs in the steps (per step) | host syncs at the epoch end | blocking host-to-device copies per step |',
             '|---|---|---|---|']
    for n, c in r['methods'].items():
        h2d = sum(v for e, v in c.items() if e in ('h2d_sync', 'h2d_pageable'))
        lines.append(f"| {n} | {(syncs(c) - 2) / s:g} | 2 | {h2d / s:g} |")
    h, f = r['host_data_joint'], r['fp16_joint']
    ev, old = r['eval_per_batch']['now'], r['eval_per_batch']['before']
    fmt = lambda d: ', '.join(f'{k} {v:g}' for k, v in sorted(d.items())) or 'none'
    lines += ['', f"- Data left on the host (the pretend GPU reports 1 KiB free): per step {h.get('h2d_async', 0) / s:g} asynchronous copies "
              f"from pinned memory, {(h.get('h2d_sync', 0) + h.get('h2d_pageable', 0)) / s:g} blocking ones; host syncs per step {(syncs(h) - 2) / s:g}.",
              f"- `amp='fp16'` with the grad scaler (a GPU without native bf16): {(syncs(f) - 2) / s:g} host sync per step "
              "(torch's `GradScaler.step` reads its overflow flag), against 0 under bf16 or fp32.",
              f"- Evaluation of a cached video dataset (`ClipTransform`), events per batch: now {fmt(ev)}; at {r['eval_per_batch']['before_rev']} "
              f"{fmt(old)} (frame indices drawn on the host and copied to the GPU, the counts copied back).",
              f"- cuDNN autotuner (`torch.backends.cudnn.benchmark`) during a pretend-GPU run: {r['cudnn_benchmark']['default']} by default, "
              f"{r['cudnn_benchmark']['deterministic']} with `train.deterministic=true`.",
              "- `train.compile=true`, graph breaks (`torch._dynamo.explain`, tiny SmallCNN pair on the CPU): joint training's step "
              f"{r['graph_breaks']['joint_step']}, an encoder with CAL's `register_hook` on its last map {r['graph_breaks']['cal_hooked_encoder']}, "
              f"`BatchVisualAugment` {r['graph_breaks']['visual_augment']} (its `torch.rand(..., generator=)` calls: the transform stays eager).", '']
    return '\n'.join(lines)


if __name__ == '__main__': main()
