"""Cost per training step of MIDAS's Table 3 rows against joint training: feature-level Mixup, PowMix, LeMDA and
MIDAS itself (after its warm-up), on the CPU protocol's SmallCNN pair at the embedded data's shapes, one thread.

    OMP_NUM_THREADS=1 python benchmarks/bench_augmentation.py run      # interleaved epochs, CPU seconds per step
    python benchmarks/bench_augmentation.py report                     # RESULTS.md section from the saved json

The time is the process's CPU time (`time.process_time`, one thread), so other jobs on the machine stay out of it;
each round trains one epoch of every method in turn (interleaved), the first round is not counted. The result goes
to `benchmarks/results/augmentation_step_cost.json` and to the `<!-- bench_augmentation -->` section of
`benchmarks/RESULTS.md`.
"""
import argparse, datetime, json, os, platform, statistics, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent)); from _md import replace_section  # noqa: E402
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from mmrepro.core import atomic_write_json

MARKER = '<!-- bench_augmentation -->'
OUT = ROOT/'benchmarks'/'results'/'augmentation_step_cost.json'
VARIANTS = {'joint': dict(name='joint_misval'), 'mixup (feature_mixup)': dict(name='feature_mixup'),
            'powmix': dict(name='powmix'), 'lemda': dict(name='lemda'), 'midas (after warm-up)': dict(name='midas', warmup_epochs=0)}
WHY = {'powmix': 'one more pass of the linear fusion head on n in [B, 4B] mixed rows, the Dirichlet draws',
       'lemda': 'the MLP VAE on the fused features, the head on 3B rows, the augmenter\'s Adam step',
       'mixup (feature_mixup)': 'one more pass of the head on B mixed rows', 'midas (after warm-up)': 'the head on 2B misaligned rows, the unimodal heads'}

def machine() -> dict:
    return dict(date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'), torch=torch.__version__,
                threads=torch.get_num_threads(), cpu=platform.processor() or platform.machine(), cores=os.cpu_count())

def run(args) -> dict:
    "CPU seconds per step of every variant, interleaved epochs of `steps` steps, the first round dropped."
    import mmrepro.methods  # noqa: F401  (registers the methods)
    from mmrepro.experiment import build_run, merge_config, default_config
    from mmrepro.protocols import protocol_config
    from mmrepro.train import Trainer
    torch.set_num_threads(1)
    base = protocol_config('cpu', 'synthetic')
    bs = base['train']['batch_size'] = args.batch_size
    base['data'].update(n_train=bs * args.steps)
    trainers = {}
    for name, m in VARIANTS.items():
        cfg = merge_config(default_config(), dict(base, method=m, train=dict(base['train'], epochs=args.rounds + 2, device='cpu', progress=False)))
        data, model, method, tcfg = build_run(cfg)
        t = Trainer(model, data, method, tcfg, tempfile.mkdtemp(), run_config=cfg); t._setup(); method.on_fit_start(t)
        trainers[name] = t
    times = {k: [] for k in VARIANTS}
    for r in range(args.rounds + 1):
        for name, t in trainers.items():
            t0 = time.process_time(); t.train_epoch(r); dt = time.process_time() - t0
            if r: times[name].append(dt / args.steps)
        print(f'round {r}: ' + ', '.join(f'{n} {times[n][-1] * 1e3:.1f} ms' for n in trainers if r), flush=True)
    out = dict(machine=machine(), data=base['data'], batch_size=bs, steps=args.steps, rounds=args.rounds, variants={})
    for name in VARIANTS:
        ratios = [a / b for a, b in zip(times[name], times['joint'])]
        out['variants'][name] = dict(ms_per_step=1e3 * statistics.mean(times[name]), ratio_vs_joint=sum(times[name]) / sum(times['joint']),
                                     ratio_min=min(ratios), ratio_max=max(ratios), ms_all=[1e3 * x for x in times[name]])
    return out

def report(res:dict) -> str:
    m = res['machine']
    lines = [MARKER, '## Augmentation baselines of MIDAS\'s Table 3: cost per step against joint training', '',
             f"`python benchmarks/bench_augmentation.py run` ({m['date']}, torch {m['torch']}, {m['threads']} thread, CPU time of the process): "
             f"the `cpu` protocol's SmallCNN pair on the embedded data's shapes, batch {res['batch_size']}, {res['steps']} steps per epoch, "
             f"{res['rounds']} interleaved rounds after one not counted.", '',
             '| method | ms per step | ratio to joint (min–max over rounds) | the extra work |', '|---|---|---|---|']
    for name, v in res['variants'].items():
        lines.append(f"| {name} | {v['ms_per_step']:.1f} | {v['ratio_vs_joint']:.2f} ({v['ratio_min']:.2f}–{v['ratio_max']:.2f}) | {WHY.get(name, '—')} |")
    over = [n for n, v in res['variants'].items() if v['ratio_vs_joint'] > 1.5]
    lines += ['', 'Above 1.5x: ' + (', '.join(over) if over else 'none') + '.']
    return '\n'.join(lines) + '\n'

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('what', choices=['run', 'report'])
    p.add_argument('--rounds', type=int, default=4); p.add_argument('--steps', type=int, default=8); p.add_argument('--batch-size', type=int, default=64)
    a = p.parse_args()
    if a.what == 'run': res = run(a); atomic_write_json(OUT, res)
    else: res = json.loads(OUT.read_text())
    replace_section(ROOT/'benchmarks'/'RESULTS.md', MARKER, report(res))
    print(report(res))
