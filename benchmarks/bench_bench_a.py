"""Per-step cost of MMPareto, PMR, AGM and OPM relative to joint training, measured in one run on the CPU.

Each method trains the `cpu` protocol's model (small CNN pair) on AV-Digits (`stft_small` audio, batch 64) through the
real loop (`Trainer.train_epoch`, so a method's per-epoch work, PMR's prototype pass, is included); the methods take
turns epoch by epoch (`--rounds` rounds after one warm-up epoch each) and each epoch's **CPU time of this process**
(`time.process_time`, one torch thread) is divided by its steps, so other jobs sharing the cores do not enter the ratio.

    OMP_NUM_THREADS=1 python benchmarks/bench_bench_a.py --data-root /work/shared/data   # writes results/bench_a_cost_cpu.json
    python benchmarks/bench_bench_a.py --report                                            # RESULTS.md section only

The section after `<!-- bench_bench_a -->` of `benchmarks/RESULTS.md` is regenerated; the rest is kept.
"""
import argparse, datetime, json, os, platform, statistics, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent)); from _md import replace_section  # noqa: E402
import torch
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MARKER = '<!-- bench_bench_a -->'
RES = ROOT/'benchmarks'/'results'/'bench_a_cost_cpu.json'
METHODS = ['joint', 'mmpareto', 'pmr', 'agm', 'opm']
WHY = {'mmpareto': 'two backward passes (fused loss; sum of the unimodal losses) and the per-encoder combination',
       'pmr': 'prototype logits (distances to C prototypes) and an eval pass over a tenth of the training set per epoch',
       'agm': 'the encoders again in eval mode (and on one zero sample) and the fusion head on 2^M - 1 coalitions, all back-propagated',
       'opm': 'the drop masks only'}

def measure(args):
    import mmrepro.methods  # noqa: F401
    from mmrepro.protocols import protocol_config
    from mmrepro.experiment import build_run
    from mmrepro.data import load_dataset
    from mmrepro.train import Trainer
    torch.set_num_threads(1)
    base = protocol_config('cpu', 'avdigits', data_root=args.data_root)
    d = dict(base['data']); data = load_dataset(d.pop('name'), **d)
    trainers = {}
    for m in args.methods:
        cfg = dict(base, method=dict(name=m), train=dict(base['train'], progress=False, async_checkpoint=False, max_steps_per_epoch=args.steps or None))
        _, model, method, tcfg = build_run(cfg, data)
        tr = Trainer(model, data, method, tcfg, tempfile.mkdtemp(), run_config=cfg); tr._setup(); method.on_fit_start(tr)
        trainers[m] = tr
    times = {m: [] for m in args.methods}
    for epoch in range(args.rounds + 1):
        for m, tr in trainers.items():
            t0 = time.process_time(); tr.train_epoch(epoch); dt = time.process_time() - t0
            steps = min(len(tr.loader), args.steps or len(tr.loader))
            if epoch > 0: times[m].append(dt / steps)   # epoch 0: warm-up (and OPM's warm-up epoch)
    med = {m: statistics.median(v) for m, v in times.items()}
    out = dict(machine=dict(date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'), torch=torch.__version__,
                            threads=torch.get_num_threads(), cpu=platform.processor() or platform.machine(), cores=os.cpu_count()),
               setting=f"AV-Digits, cpu protocol model (small CNN pair), batch {base['train']['batch_size']}, {args.steps or 'all'} steps per epoch, "
                       f"{args.rounds} timed epochs per method after one warm-up epoch, CPU time of this process",
               seconds_per_step=med, per_epoch=times, ratio_to_joint={m: med[m] / med['joint'] for m in med})
    RES.parent.mkdir(parents=True, exist_ok=True); RES.write_text(json.dumps(out, indent=1))
    return out

def report(res):
    rows = ''.join(f"| {m} | {res['seconds_per_step'][m] * 1e3:.0f} | {res['ratio_to_joint'][m]:.2f}x | {WHY.get(m, 'reference') if res['ratio_to_joint'][m] > 1.5 or m == 'joint' else ''} |\n"
                   for m in res['seconds_per_step'])
    sec = (f"{MARKER}\n## Methods of issue 21 (bench-a): cost per step relative to joint training\n\n"
           f"`python benchmarks/bench_bench_a.py --data-root DATA` ({res['machine']['date']}, torch {res['machine']['torch']}, "
           f"{res['machine']['threads']} thread). {res['setting']}; median over the timed epochs.\n\n"
           "| method | ms per step | relative to joint | why (when above 1.5x) |\n|---|---|---|---|\n" + rows)
    replace_section(ROOT/'benchmarks'/'RESULTS.md', MARKER, sec)
    print(sec)

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data-root', default=os.environ.get('MMREPRO_SHARED_DATA', ''))
    p.add_argument('--methods', nargs='+', default=METHODS); p.add_argument('--rounds', type=int, default=3)
    p.add_argument('--steps', type=int, default=0, help='steps per epoch (0: the whole epoch)')
    p.add_argument('--report', action='store_true', help='only rewrite the RESULTS.md section from the saved json')
    a = p.parse_args()
    if not a.report and 'joint' not in a.methods: a.methods = ['joint'] + a.methods
    report(json.loads(RES.read_text()) if a.report else measure(a))
