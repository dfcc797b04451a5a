"""AV-Digits, `cpu` protocol, 5 seeds: joint training against MMPareto, PMR, AGM and OPM (issue 21, helper bench-a).

The protocol is the one of `nbs/05_midas.ipynb`'s AV-Digits table and the README's paper-4 command
(`protocol_config('cpu', 'avdigits')`: small CNN pair, `stft_small` audio, SGD lr 0.02 momentum 0.9 wd 1e-4, cosine to 0,
16 epochs, batch 64, no clipping, the last epoch reported), the same for every method; each method at its defaults.

    OMP_NUM_THREADS=1 python benchmarks/avdigits_bench_a.py run --data-root /work/shared/data --methods joint mmpareto
    python benchmarks/avdigits_bench_a.py collect      # per-seed CSV, mean +- std and seed-paired differences to joint

Run folders go under runs/bench_a_avdigits/ (one per method and seed, resumable); `collect` writes
benchmarks/results/bench_a_avdigits.csv (one row per method and seed) and prints the two tables.
"""
import argparse, sys, time
from pathlib import Path
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OUT = ROOT/'runs'/'bench_a_avdigits'
CSV = ROOT/'benchmarks'/'results'/'bench_a_avdigits.csv'
METHODS = ['joint', 'mmpareto', 'pmr', 'agm', 'opm']

def run(args):
    import mmrepro.methods  # noqa: F401  (registers every method)
    from mmrepro.protocols import protocol_config
    from mmrepro.data import load_dataset
    from mmrepro.analysis.report import run_grid
    base = protocol_config('cpu', 'avdigits', data_root=args.data_root)
    base['train'].update(progress=False)
    d = dict(base['data']); data = load_dataset(d.pop('name'), **d)
    t0 = time.time()
    for s in args.seeds:   # seed-major: every method of a seed finishes before the next seed starts
        run_grid({m: dict(name=m) for m in args.methods}, [s], base, OUT, data_for=lambda _s: (base['data'], data), progress=False)
    print(f"done in {time.time() - t0:.0f} s")

def collect(args):
    import json
    import pandas as pd
    from mmrepro.analysis.report import mean_std, paired_diffs
    rows = []
    for f in sorted(OUT.glob('*/result.json')):
        r = json.loads(f.read_text())
        if r.get('status') != 'complete': continue
        name, seed = r['config']['method']['name'] if 'name' in r['config']['method'] else None, r['config']['train']['seed']
        name = r['config']['config'].get('method', {}).get('name', name)
        t = r['selected']['test']
        rows.append(dict(variant=name, seed=seed, acc=t['acc'], macro_f1=t['macro_f1'],
                         **{f'{m} only (zero-out)': t.get(f'acc_zero_out_{m}') for m in ('audio', 'visual')},
                         train_s_per_epoch=r['timing']['mean_train_seconds']))
    df = pd.DataFrame(rows)
    df['variant'] = pd.Categorical(df['variant'], [m for m in METHODS if m in set(df['variant'])]); df = df.sort_values(['variant', 'seed'])
    df['variant'] = df['variant'].astype(str)
    CSV.parent.mkdir(parents=True, exist_ok=True); df.to_csv(CSV, index=False)
    print(mean_std(df.drop(columns=['train_s_per_epoch']), 'AV-Digits, cpu protocol, test % at the last epoch').to_markdown())
    print(); print(paired_diffs(df, 'joint').to_markdown())
    print(f"\n{len(df)} runs -> {CSV}")

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = p.add_subparsers(dest='cmd', required=True)
    r = sub.add_parser('run'); r.add_argument('--data-root', required=True); r.add_argument('--methods', nargs='+', default=METHODS)
    r.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2, 3, 4])
    sub.add_parser('collect')
    a = p.parse_args()
    {'run': run, 'collect': collect}[a.cmd](a)
