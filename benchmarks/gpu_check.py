#!/usr/bin/env python
"""GPU check: epoch time and peak memory of every registered method on CREMA-D shapes, the speed options, host syncs per
step and the reference per-sample DataLoader, in one command (`benchmarks/gpu_check.sh`, at most 8 minutes on one H100/H200).

Data: synthetic tensors of CREMA-D's shapes, nothing downloaded: 6,698 training clips (744 validation, 744 test), each a
float16 `stft_ogm` spectrogram (257 x 188) and 3 uint8 frames stored at shorter side 256 (256 x 341), in an `MMData` of
`MMTensorDataset`s with CREMA-D's device-side transform (`ClipTransform`: the 3 stored frames, random resized crop to 224,
flip, normalise). Model: ResNet-18 audio + visual encoders, concat fusion, unimodal heads, 6 classes. Training options:
the OGM-GE protocol (SGD lr 1e-3, momentum 0.9, weight decay 1e-4, batch 64) for every method, so that the ratios to joint
measure the methods alone.

Each run goes through `Trainer` as `Trainer.fit` does (`_setup`, `on_fit_start`, then per epoch: train, schedule step,
val + test evaluation, `on_epoch_end`), without checkpoints. Two epochs: epoch 1 is a short warm-up (cuDNN autotuning,
compilation; the methods whose phase starts later are configured to start at epoch 2), epoch 2 is timed: the training
epoch (`train_epoch`, its `on_epoch_start` hook included, synchronised at both ends), apart from the evaluation and the
`on_epoch_end` hook (timed separately). Host syncs: torch's sync debug mode ('warn') during the timed training epoch; the
syncs between the first and the last batch request are the steps' own, the rest the epoch's (hooks, the final read).
Peak memory: `torch.cuda.max_memory_allocated` over the whole run (the data, on the GPU, included and reported apart).

Results go to `<out>/gpu_check_{device}_{size}.json` after every run (atomic), and `<out>/../RESULTS.md` gets its
`<!-- bench_gpu_check -->` section (from the full-size GPU result only; a note otherwise).

    bash benchmarks/gpu_check.sh                                   # on a GPU machine: --size full --device cuda
    python benchmarks/gpu_check.py --size tiny --device cpu        # a smoke test of the same path (< 60 s on 2 cores)
"""
from __future__ import annotations
import argparse, datetime, gc, os, platform, shlex, sys, tempfile, time, warnings
from dataclasses import fields
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent)); from _md import replace_section  # noqa: E402

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path: sys.path.insert(0, str(ROOT))
import mmrepro.methods  # noqa: E402,F401  (registers every method)
from mmrepro.core import atomic_write_json, get_device, read_json, seed_everything, versions  # noqa: E402
from mmrepro.data import MMData, MMTensorDataset  # noqa: E402
from mmrepro.datasets.spec import ClipTransform  # noqa: E402
from mmrepro.encoders import build_model  # noqa: E402
from mmrepro.protocols import TRAIN  # noqa: E402
from mmrepro.train import METHODS, Trainer, TrainConfig  # noqa: E402
try: import bench_pipeline as bp   # the reference pipeline, the synthetic media and the memory probe
except ImportError as e: bp, BP_ERROR = None, f"benchmarks/bench_pipeline.py cannot be imported ({e})"

NUM_CLASSES, N_FRAMES, MiB = 6, 3, 2 ** 20
MODEL = dict(encoder='resnet18', fusion='concat', unimodal_heads=True)
SIZES = {   # full: CREMA-D; tiny: the same layout, small enough for the test command on a 2-core CPU
    'full': dict(n_train=6698, n_eval=744, spec=(257, 188), side=256, crop=224, batch=64, warmup_steps=8, steps=None,
                 ref_steps=None, ref_warmup=3, ref_pool=128, budget_s=400, est_run_s=60, est_ref_s=60, est_compile_s=120),
    'tiny': dict(n_train=64, n_eval=16, spec=(32, 24), side=32, crop=24, batch=8, warmup_steps=1, steps=2,
                 ref_steps=1, ref_warmup=0, ref_pool=4, budget_s=300, est_run_s=10, est_ref_s=30, est_compile_s=300)}
METHOD_OPTIONS = {'unimodal': [dict(modality='audio'), dict(modality='visual')]}   # methods run once per option set
GOAL_JOINT_S, GOAL_RATIO = 2.0, 1.1


# ----------------------------------------------------------------------------------------------- data and runs
def make_data(sz:dict, device, seed:int=0) -> MMData:
    "Synthetic CREMA-D-shaped data made on `device`: float16 spectrograms (N, F, T), uint8 frames (N, 3, 3, side, side*4/3)."
    g = torch.Generator(device=device).manual_seed(seed)
    n_tr, n_ev, (F_, T_), side = sz['n_train'], sz['n_eval'], sz['spec'], sz['side']
    def split(n, start):
        spec = (torch.randn(n, F_, T_, generator=g, device=device) * 2 - 3).half()   # log-magnitudes' scale
        frames = torch.randint(0, 256, (n, N_FRAMES, 3, side, side * 4 // 3), generator=g, device=device, dtype=torch.uint8)
        y = torch.randint(0, NUM_CLASSES, (n,), generator=g, device=device)
        return MMTensorDataset({'audio': spec, 'visual': frames}, y, torch.arange(start, start + n, device=device))
    train, val, test = split(n_tr, 0), split(n_ev, n_tr), split(n_ev, n_tr + n_ev)
    counts = torch.full((n_tr + 2 * n_ev,), N_FRAMES, dtype=torch.long)   # every clip stores 3 frames, as CREMA-D's cache
    return MMData('cremad_shapes', train, val, test, classes=[f'c{i}' for i in range(NUM_CLASSES)],
                  in_shapes={'audio': (1, F_, T_), 'visual': (3, N_FRAMES, sz['crop'], sz['crop'])},
                  transform=ClipTransform(counts, N_FRAMES, 'segment', sz['crop']))

def compile_available() -> bool: return 'compile' in {f.name for f in fields(TrainConfig)}

def base_train(sz:dict, args, device) -> dict:
    "The OGM-GE protocol's training options, 2 epochs (warm-up + timed), on `device`."
    return dict(TRAIN['ogmge'], epochs=2, batch_size=sz['batch'], device=str(device), seed=args.seed, progress=False)

def effective(train:dict, device) -> dict:
    "The speed options a run really uses: autocast dtype, channels_last, compile."
    amp = train.get('amp', 'auto')
    amp = ('bf16' if device.type == 'cuda' else 'off') if amp == 'auto' else amp
    return dict(amp=amp, channels_last=bool(train.get('channels_last', False)), compile=bool(train.get('compile', False)))

def plan(args, device) -> list:
    "Every run, in order: joint first (the headline), the other methods, the reference pipeline, then the speed options on joint."
    names = METHODS.names()
    if args.methods:
        bad = [m for m in args.methods if m not in names]
        if bad: raise SystemExit(f"--methods {bad}: not registered; expected some of {names}")
        names = [m for m in names if m in args.methods]
    runs = []
    for m in sorted(names, key=lambda m: m != 'joint'):
        for opts in METHOD_OPTIONS.get(m, [{}]):
            label = m + ''.join(f' {k}={v}' for k, v in opts.items())
            runs.append(dict(name=label, kind='method', method=m, options=opts, train={}))
    if not args.no_reference: runs.append(dict(name='reference DataLoader', kind='reference'))
    if not args.no_variants and 'joint' in names:
        on_gpu = device.type == 'cuda'
        flips = [dict(amp='off' if on_gpu else 'bf16'), dict(channels_last=True)]
        flips += [dict(compile=True), dict(amp='bf16', channels_last=True, compile=True)] if compile_available() else [dict(amp='bf16', channels_last=True)]
        seen = [effective({}, device)]
        for t in flips:
            e = effective(t, device)
            if e in seen: continue
            seen.append(e)
            runs.append(dict(name='joint ' + '+'.join(f'{k}={v}' for k, v in t.items()), kind='variant', method='joint', options={}, train=t))
        if on_gpu:   # not a TrainConfig option: torch's global autotuner, off in every mmrepro run today
            runs.append(dict(name='joint cudnn.benchmark=True', kind='variant', method='joint', options={}, train={}, cudnn_benchmark=True))
    return runs

class StepMarks:
    "A training loader that notes `count()` whenever the loop asks for its next batch (step k's syncs fall between marks k and k+1)."
    def __init__(self, loader, count): self.loader, self.count, self.marks = loader, count, []
    def __len__(self): return len(self.loader)
    def set_epoch(self, epoch:int): self.loader.set_epoch(epoch)
    def __getattr__(self, k): return getattr(self.loader, k)   # anything else the trainer may ask of its loader
    def __iter__(self):
        self.marks, it = [], iter(self.loader)
        while True:
            self.marks.append(self.count())
            try: batch = next(it)
            except StopIteration: return
            yield batch

class SyncCounter:
    "Count host synchronisations on CUDA (torch's sync debug mode 'warn') while active; other warnings are shown again."
    def __init__(self, device): self.on, self.log = device.type == 'cuda', []
    def __enter__(self):
        if self.on:
            self._cw = warnings.catch_warnings(record=True); self.log = self._cw.__enter__()
            warnings.simplefilter('always'); torch.cuda.set_sync_debug_mode('warn')
        return self
    def count(self) -> int: return sum('synchroniz' in str(w.message) for w in self.log)
    def __exit__(self, *exc):
        if self.on:
            torch.cuda.set_sync_debug_mode('default'); self._cw.__exit__(*exc)
            for w in self.log:
                if 'synchroniz' not in str(w.message): warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        return False

def sync(device):
    if device.type == 'cuda': torch.cuda.synchronize(device)

def dynamo_graphs() -> int:
    "Graphs torch.compile has compiled so far in this process (0 if dynamo is unavailable)."
    try:
        from torch._dynamo.utils import counters
        return int(counters['stats']['unique_graphs'])
    except Exception: return 0

class PeakMemory:
    "Peak memory of a run: bench_pipeline's probe (CUDA: max_memory_allocated; CPU: peak RSS growth), or CUDA alone without it."
    def __init__(self, device): self.device, self.result = device, {}
    def __enter__(self):
        if bp is not None: self.probe = bp.MemoryProbe(self.device).__enter__()
        elif self.device.type == 'cuda':
            gc.collect(); torch.cuda.synchronize(); torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
        return self
    def __exit__(self, *exc):
        if bp is not None: self.probe.__exit__(*exc); r = self.probe.result
        elif self.device.type == 'cuda': r = dict(cuda_peak_allocated_mib=torch.cuda.max_memory_allocated() / MiB, cuda_allocated_at_start_mib=self.base / MiB)
        else: r = {}
        if 'cuda_peak_allocated_mib' in r:
            self.result = dict(peak_mib=r['cuda_peak_allocated_mib'], data_mib=r['cuda_allocated_at_start_mib'], what='torch.cuda.max_memory_allocated')
        elif r: self.result = dict(peak_mib=r['main_peak_rss_growth_mib'], data_mib=None, what='growth of the peak RSS (CPU)')
        return False

def train_run(spec:dict, data:MMData, sz:dict, args, device) -> dict:
    "One method (or speed option) through the Trainer: a warm-up epoch, then a timed epoch; times, memory, syncs."
    method = METHODS.build(spec['method'], **spec['options'])
    cfg = TrainConfig(**base_train(sz, args, device), **spec['train'])
    mods = method.modalities(data.modalities)
    d = data if mods == data.modalities else data.select(mods)
    seed_everything(args.seed)
    model = method.prepare_model(build_model(d.in_shapes, d.num_classes, **MODEL))
    graphs0, bench0 = dynamo_graphs(), torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = autotune = bool(spec.get('cudnn_benchmark', bench0))
    try: out, mem = _train_run(method, model, d, cfg, sz, args, device)
    finally: torch.backends.cudnn.benchmark = bench0
    out['epoch_s'] = out['train_s'] * out['steps_per_epoch'] / out['steps']   # = train_s when the whole epoch ran
    out['extrapolated'] = out['steps'] < out['steps_per_epoch']
    out['ms_per_step'] = 1000 * out['train_s'] / out['steps']
    out['method_epoch_s'] = out['epoch_s'] + out['end_hook_s']
    out['memory'] = mem.result
    out['config'] = dict(effective(spec['train'], device), cudnn_benchmark=autotune, method_options=method.config())
    if out['config']['compile']:
        out['compiled_graphs'] = dynamo_graphs() - graphs0
        if not out['compiled_graphs']: out['note'] = 'train.compile=true compiled no graph here: the Trainer applies it outside _setup/train_epoch, or not at all'
    return out

def _train_run(method, model, d:MMData, cfg:TrainConfig, sz:dict, args, device) -> tuple:
    "What `Trainer.fit` does, without checkpoints: a warm-up epoch, then the timed one (train, schedule, evaluation, end hook)."
    with tempfile.TemporaryDirectory() as tmp, PeakMemory(device) as mem:
        tr = Trainer(model, d, method, cfg, tmp)
        seed_everything(cfg.seed, cfg.deterministic)
        tr._setup()
        method.on_fit_start(tr)
        steps_per_epoch = len(tr.loader)
        out, early = {}, bool(getattr(method, 'sched_at_epoch_start', False))
        for epoch, steps in ((0, sz['warmup_steps']), (1, args.steps)):
            tr.cfg.max_steps_per_epoch = steps
            timed = epoch == 1
            sync(device); t0 = time.perf_counter()
            with SyncCounter(device if timed else torch.device('cpu')) as sc:
                tr.loader = marks = StepMarks(tr.loader.loader if isinstance(tr.loader, StepMarks) else tr.loader, sc.count)
                if early: tr._step_sched()
                logs = tr.train_epoch(epoch)
                sync_total = sc.count()
            sync(device); t1 = time.perf_counter()
            if not early: tr._step_sched()
            tr.evaluate(tr.val_ds); tr.evaluate(tr.test_ds); sync(device); t2 = time.perf_counter()
            method.on_epoch_end(tr.state); sync(device); t3 = time.perf_counter()
            if not timed: out['warmup_s'] = t3 - t0; continue
            n = len(marks.marks) - 1
            out.update(train_s=t1 - t0, steps=n, steps_per_epoch=steps_per_epoch, eval_s=t2 - t1, end_hook_s=t3 - t2, loss=logs.get('loss'))
            if sc.on:
                in_steps = marks.marks[-1] - marks.marks[0]
                out['syncs'] = dict(in_steps=in_steps, per_step=in_steps / max(n, 1), outside_steps=sync_total - in_steps)
            else: out['syncs'] = 'n/a (CPU)'
        del tr
    return out, mem

def reference_run(sz:dict, args, device) -> dict:
    "The same joint epoch through OGM-GE's per-sample DataLoader (bench_pipeline's ReferenceDataset and loop)."
    if bp is None: raise RuntimeError(BP_ERROR)
    t0 = time.perf_counter()
    wavs, jpegs, labels = bp.make_media(sz['ref_pool'], args.seed, progress=False)   # a pool of distinct clips, cycled:
    n = sz['n_train']                                                                   # the per-item work is the same
    ds = bp.ReferenceDataset([wavs[i % len(wavs)] for i in range(n)], [jpegs[i % len(jpegs)] for i in range(n)],
                             [labels[i % len(labels)] for i in range(n)], sz['crop'], n_frames=N_FRAMES)
    media_s = time.perf_counter() - t0
    steps_per_epoch = n // sz['batch']
    steps = min(sz['ref_steps'] or steps_per_epoch, steps_per_epoch)
    ns = argparse.Namespace(batch_size=sz['batch'], workers=args.workers, seed=args.seed, amp='auto', device=str(device),
                            no_progress=True, data_on_device='auto', steps=steps, warmup=sz['ref_warmup'])
    seed_everything(args.seed)
    model = build_model({'audio': (1, *bp.SPEC_SHAPE), 'visual': (3, N_FRAMES, sz['crop'], sz['crop'])}, NUM_CLASSES, **MODEL)
    with PeakMemory(device) as mem: r = bp.run_reference(model, ds, ns, device)
    del model
    return dict(train_s=r['seconds'], steps=steps, steps_per_epoch=steps_per_epoch, epoch_s=r['seconds'] * steps_per_epoch / steps,
                extrapolated=steps < steps_per_epoch, ms_per_step=1000 * r['seconds'] / steps, workers=args.workers,
                media_s=media_s, cores_busy=r['cores_busy'], loss=r['final_loss'], memory=mem.result, syncs='loss.item() every step',
                config=dict(amp=r['amp'], spectrogram=list(bp.SPEC_SHAPE), jpeg=f'{bp.JPEG_W}x{bp.JPEG_H}', n_frames=N_FRAMES,
                            pool=sz['ref_pool']))


# ----------------------------------------------------------------------------------------------- headline and markdown
def device_name(device) -> str:
    if device.type == 'cuda': return torch.cuda.get_device_name(device)
    return bp.device_name(device) if bp is not None else platform.processor() or platform.machine()

def fmt_sync(r:dict) -> str:
    s = r.get('syncs')
    return s if isinstance(s, str) else f"{s['per_step']:.2f}/step (+{s['outside_steps']} per epoch)"

def fmt_mem(r:dict) -> str:
    m = r.get('memory') or {}
    if not m: return 'n/a'
    return f"{m['peak_mib'] / 1024:.2f} GiB" + (f" ({(m['peak_mib'] - m['data_mib']) / 1024:.2f} above the data)" if m.get('data_mib') is not None else ' RSS growth')

def headline(res:dict) -> list:
    "The summary lines the script prints last."
    runs, c = res['runs'], res['config']
    ok = lambda k: runs.get(k, {}).get('status') == 'ok'
    full = c['size'] == 'full' and c['steps'] is None and c['n_train'] == SIZES['full']['n_train']
    lines = [f"== gpu_check headline: {res['device_name']}, torch {res['versions']['torch']}, size {c['size']}"
             + ('' if full else ' (NOT the goal\'s measurement: smaller data or fewer steps)')]
    if not ok('joint'): return lines + [f"joint: {runs.get('joint', {}).get('status', 'not run')} {runs.get('joint', {}).get('reason', '')}"]
    j = runs['joint']
    est = ' (extrapolated from %d steps)' % j['steps'] if j['extrapolated'] else ''
    met = 'MET' if j['epoch_s'] <= GOAL_JOINT_S else 'NOT MET'
    lines.append(f"joint epoch {j['epoch_s']:.2f} s{est} ({j['steps_per_epoch']} steps x {c['batch']}, {j['ms_per_step']:.1f} ms/step; "
                 f"eval {j['eval_s']:.2f} s apart), peak {fmt_mem(j)}, host syncs {fmt_sync(j)}")
    lines.append(f"goal: joint <= {GOAL_JOINT_S:g} s per CREMA-D epoch on one H100-class GPU: {met if res['device'] == 'cuda' and full else 'n/a (not a full-size GPU run)'}")
    ratios, above = [], []
    for k, r in runs.items():
        if r.get('kind') != 'method' or k == 'joint': continue
        if r['status'] != 'ok': ratios.append(f"{k} {r['status']}"); continue
        x = r['method_epoch_s'] / j['method_epoch_s']
        ratios.append(f"{k} {x:.2f}x" + (' (ABOVE)' if x > GOAL_RATIO else ''))
        if x > GOAL_RATIO: above.append(k)
    lines.append(f"methods / joint (epoch incl. on_epoch_end; goal <= {GOAL_RATIO}x): " + ', '.join(ratios))
    lines.append(f"above {GOAL_RATIO}x: " + (', '.join(above) if above else 'none'))
    ref = runs.get('reference DataLoader')
    if ref and ref['status'] == 'ok':
        lines.append(f"reference per-sample DataLoader ({ref['workers']} workers): epoch {ref['epoch_s']:.2f} s"
                     + (' (extrapolated from %d steps)' % ref['steps'] if ref['extrapolated'] else '') + f"; mmrepro {ref['epoch_s'] / j['epoch_s']:.1f}x faster")
    elif ref: lines.append(f"reference DataLoader: {ref['status']} {ref.get('reason', '')}")
    opts = []
    base = effective({}, torch.device(res['device']))
    for k, r in runs.items():
        if r.get('kind') != 'variant': continue
        if r['status'] != 'ok': opts.append(f"{k}: {r['status']}"); continue
        opts.append(f"{k}: {r['epoch_s']:.2f} s ({r['epoch_s'] / j['epoch_s']:.2f}x)" + (f" [{r['note']}]" if r.get('note') else ''))
    lines.append(f"speed options (joint default: amp={base['amp']}, channels_last={base['channels_last']}, {j['epoch_s']:.2f} s): "
                 + ('; '.join(opts) if opts else 'not run'))
    if not res['compile_available']: lines.append("torch.compile: not available (TrainConfig has no `compile` option yet)")
    lines.append(f"DDP: not available yet ({res['gpu_count']} GPU(s) here)")
    if res['skipped']: lines.append("skipped (time budget): " + '; '.join(f"{s['name']} ({s['reason']})" for s in res['skipped']))
    failed = [k for k, r in runs.items() if r['status'] == 'failed']
    if failed: lines.append("FAILED: " + '; '.join(f"{k}: {runs[k]['reason']}" for k in failed))
    return lines

def f2(x) -> str: return '' if x is None else f"{x:.2f}"

def md_section(out_dir:Path) -> str:
    "RESULTS.md's gpu_check section: the full-size GPU result, or a note saying there is none yet."
    head = ("<!-- bench_gpu_check -->\n## GPU check: every method on CREMA-D shapes (`bash benchmarks/gpu_check.sh`)\n\n"
            "Generated by `benchmarks/gpu_check.py`. Synthetic CREMA-D-shaped data (6,698 training clips, float16 257x188 spectrogram, "
            "3 uint8 frames at 256x341 cropped to 224 on the device), ResNet-18 pair, concat fusion, batch 64, 6 classes, SGD (OGM-GE protocol) "
            "through `Trainer`; epoch 2 of 2 timed (epoch 1: a short warm-up), evaluation apart. Peak memory: `torch.cuda.max_memory_allocated` "
            "(the data on the GPU included). Goals: joint <= 2 s per epoch on one H100-class GPU; every method <= 1.1x joint.\n\n")
    p = out_dir / 'gpu_check_cuda_full.json'
    if not p.exists():
        others = sorted(out_dir.glob('gpu_check_*.json'))
        note = ("**No full-size GPU result yet**: run `bash benchmarks/gpu_check.sh` on a machine with an NVIDIA GPU "
                "(it writes `benchmarks/results/gpu_check_cuda_full.json` and this section).")
        if others:
            note += " CPU runs of the same path (smoke tests and a full-size probe of a few steps; not the goal's figures):\n\n"
            for q in others:
                r = read_json(q); j = r['runs'].get('joint', {})
                what = f"joint {j['ms_per_step']:.0f} ms/step" if j.get('status') == 'ok' else 'joint not run'
                load = f", load average {r['load_average']['now'][0]:.1f}" if 'now' in r.get('load_average', {}) else ''
                note += (f"- `{q.name}`: {r['device_name']}, {r.get('torch_threads', r['versions'].get('cpu_threads', '?'))} torch thread(s){load}, size {r['config']['size']}, "
                         f"{r['config']['n_train']} clips, {sum(x['status'] == 'ok' for x in r['runs'].values())} runs ok; {what}; `{r['command']}`\n")
        return head + note
    r = read_json(p); runs = r['runs']; j = runs.get('joint', {})
    rows = []
    for k, x in runs.items():
        if x['status'] != 'ok': rows.append(f"| {k} | {x['status']}: {x.get('reason', '')} | | | | | | |"); continue
        ratio = f"{x['method_epoch_s'] / j['method_epoch_s']:.2f}x" if x.get('kind') != 'reference' and j.get('status') == 'ok' else ''
        rows.append(f"| {k} | {x['epoch_s']:.2f}{' (extrap.)' if x['extrapolated'] else ''} | {x['ms_per_step']:.1f} | "
                    f"{f2(x.get('eval_s'))} | {f2(x.get('end_hook_s'))} | {ratio} | {fmt_mem(x)} | {fmt_sync(x)} |")
    return (head + f"`{p.name}`: {r['device_name']}, torch {r['versions']['torch']}, {r['timestamp'][:16]} UTC, `{r['command']}`\n\n"
            "| run | train epoch s | ms/step | eval s | on_epoch_end s | x joint (epoch + on_epoch_end) | peak memory | host syncs |\n"
            "|---|---|---|---|---|---|---|---|\n" + '\n'.join(rows) + '\n\n' + '\n'.join(f"- {l}" for l in headline(r)[1:]) + '\n')

def write_md(out_dir:Path, md:Path): replace_section(md, '<!-- bench_gpu_check -->', md_section(out_dir))


# ----------------------------------------------------------------------------------------------- main
def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--size', choices=list(SIZES), default='full', help='full: CREMA-D shapes; tiny: the same layout, CPU-sized')
    ap.add_argument('--device', choices=['auto', 'cpu', 'cuda'], default='auto')
    ap.add_argument('--budget-s', type=float, default=None, help='launch no run that would end after this many seconds (default: 400 full, 300 tiny)')
    ap.add_argument('--methods', type=lambda s: [m for m in s.split(',') if m], default=None, help='comma-separated methods (default: every registered one)')
    ap.add_argument('--n-train', type=int, default=None, help='training clips (default: 6698 full, 64 tiny)')
    ap.add_argument('--n-eval', type=int, default=None, help='validation and test clips each (default: 744 full, 16 tiny)')
    ap.add_argument('--steps', type=int, default=None, help='timed steps (default: the whole epoch at full size, 2 at tiny); fewer are extrapolated')
    ap.add_argument('--warmup-steps', type=int, default=None, help='steps of the warm-up epoch (default: 8 full, 1 tiny)')
    ap.add_argument('--workers', type=int, default=min(16, os.cpu_count() or 1), help='reference DataLoader workers')
    ap.add_argument('--no-reference', action='store_true', help='skip the reference DataLoader epoch')
    ap.add_argument('--no-variants', action='store_true', help='skip the speed-option runs (bf16, channels_last, compile)')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--out', default=str(ROOT / 'benchmarks' / 'results'))
    ap.add_argument('--results-md', default=None, help='markdown to update (default: <out>/../RESULTS.md)')
    ap.add_argument('--md-only', action='store_true', help='only rewrite the RESULTS.md section from the json files in --out')
    args = ap.parse_args(argv)
    sz = dict(SIZES[args.size])
    for k, a in (('n_train', args.n_train), ('n_eval', args.n_eval), ('warmup_steps', args.warmup_steps)):
        if a is not None: sz[k] = a
    if args.steps is not None: sz['ref_steps'] = args.steps      # an explicit --steps applies to the reference too
    args.steps = sz['steps'] if args.steps is None else args.steps
    if sz['n_train'] < sz['batch'] or sz['n_eval'] < 1 or sz['warmup_steps'] < 1 or (args.steps is not None and args.steps < 1):
        ap.error(f"--n-train must be at least one batch ({sz['batch']}), --n-eval, --warmup-steps and --steps at least 1")
    args.budget_s = sz['budget_s'] if args.budget_s is None else args.budget_s
    return args, sz

def main(argv=None) -> int:
    args, sz = parse_args(argv)
    out_dir = Path(args.out); md = Path(args.results_md) if args.results_md else out_dir.parent / 'RESULTS.md'
    if args.md_only: write_md(out_dir, md); print(f"wrote the gpu_check section of {md}"); return 0
    t_start, load_start = time.perf_counter(), os.getloadavg()
    device = get_device(args.device)
    elapsed = lambda: time.perf_counter() - t_start
    path = out_dir / f"gpu_check_{device.type}_{args.size}.json"
    runs = plan(args, device)
    print(f"gpu_check: {device} ({device_name(device)}), torch {torch.__version__}, size {args.size}: {sz['n_train']} clips, "
          f"spectrogram {sz['spec']}, {N_FRAMES} frames {sz['side']}x{sz['side'] * 4 // 3} -> {sz['crop']}, batch {sz['batch']}; "
          f"{len(runs)} runs, budget {args.budget_s:.0f} s; writing {path}", flush=True)
    data = make_data(sz, device, args.seed)
    res = dict(benchmark='gpu_check', command='python benchmarks/gpu_check.py ' + shlex.join(sys.argv[1:] if argv is None else argv),
               timestamp=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
               device=device.type, device_name=device_name(device), gpu_count=torch.cuda.device_count(), versions=versions(),
               compile_available=compile_available(), ddp='not available yet',
               config=dict(size=args.size, **{k: sz[k] for k in ('n_train', 'n_eval', 'side', 'crop', 'warmup_steps')},
                           spec=list(sz['spec']), n_frames=N_FRAMES, batch=sz['batch'], steps=args.steps, seed=args.seed,
                           model=MODEL, train=base_train(sz, args, device), budget_s=args.budget_s, workers=args.workers,
                           data_mib=sum(v.numel() * v.element_size() for ds in (data.train, data.val, data.test) for v in ds.x.values()) / MiB),
               cpu_count=os.cpu_count(), torch_threads=torch.get_num_threads(), load_average=dict(start=list(load_start)),
               runs={}, skipped=[], data_seconds=elapsed())
    done, done_compile = [], []   # wall times of the finished runs, to estimate the next ones
    def estimate(spec) -> float:
        if spec['kind'] == 'reference': return sz['est_ref_s']
        if spec['train'].get('compile'): return 1.2 * max(done_compile) if done_compile else sz['est_compile_s'] + (max(done) if done else sz['est_run_s'])
        return 1.2 * max(done) if done else sz['est_run_s']
    for i, spec in enumerate(runs):
        name, est, left = spec['name'], estimate(spec), args.budget_s - elapsed()
        if spec.get('train', {}).get('compile') and device.type == 'cpu':
            res['runs'][name] = dict(kind=spec['kind'], status='skipped', reason='not timed on the CPU (compiling takes minutes)')
            print(f"[{i + 1}/{len(runs)}] {name}: skipped ({res['runs'][name]['reason']})", flush=True); continue
        if i > 0 and est > left:
            res['skipped'].append(dict(name=name, reason=f"needs ~{est:.0f} s, {max(left, 0):.0f} s left"))
            res['runs'][name] = dict(kind=spec['kind'], status='skipped', reason=res['skipped'][-1]['reason'])
            print(f"[{i + 1}/{len(runs)}] {name}: skipped ({res['skipped'][-1]['reason']})", flush=True); continue
        t0 = time.perf_counter()
        try:
            r = reference_run(sz, args, device) if spec['kind'] == 'reference' else train_run(spec, data, sz, args, device)
            r = dict(kind=spec['kind'], status='ok', **r)
        except Exception as e:   # one broken method must not hide the others' figures
            r = dict(kind=spec['kind'], status='failed', reason=f"{type(e).__name__}: {e}"[:500])
        finally:
            gc.collect()
            if device.type == 'cuda': torch.cuda.empty_cache()
        r['wall_s'] = time.perf_counter() - t0
        if spec['kind'] != 'reference' and r['status'] == 'ok': (done_compile if spec['train'].get('compile') else done).append(r['wall_s'])
        res['runs'][name] = r
        res['total_seconds'], res['load_average']['now'] = elapsed(), list(os.getloadavg())
        atomic_write_json(path, res); os.chmod(path, 0o644)
        msg = (f"epoch {r['epoch_s']:.2f} s{' (extrapolated)' if r['extrapolated'] else ''}, {r['ms_per_step']:.1f} ms/step, "
               f"peak {fmt_mem(r)}, syncs {fmt_sync(r)}" if r['status'] == 'ok' else f"FAILED: {r['reason']}")
        print(f"[{i + 1}/{len(runs)}] {name}: {msg} ({r['wall_s']:.0f} s; {elapsed():.0f} s so far)", flush=True)
    res['total_seconds'] = elapsed()
    res['goals'] = dict(joint_epoch_s=GOAL_JOINT_S, method_ratio_to_joint=GOAL_RATIO)
    res['headline'] = headline(res)
    atomic_write_json(path, res); os.chmod(path, 0o644)
    write_md(out_dir, md)
    print(f"wrote {path} and the gpu_check section of {md} (total {res['total_seconds']:.0f} s)\n")
    print('\n'.join(res['headline']), flush=True)
    return 1 if any(r['status'] == 'failed' for r in res['runs'].values()) else 0

if __name__ == '__main__': sys.exit(main())
