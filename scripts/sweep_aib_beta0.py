"""CAL's bottleneck strength `aib_beta0` (1e-4, 1e-3 = default, 1e-2) on AV-Digits, the notebook's `cpu` protocol.

The configuration is the one `nbs/03_cal.ipynb` trains for `cal` with `dataset=avdigits` (T = 8, gamma = 4, clip 40,
start 5% of the epochs, last-epoch selection), only `aib_beta0` changes. The notebook prints the CSV's summary. One torch thread. Writes one row per
(beta0, seed) to figures/cal_aib_beta0_avdigits.csv and prints mean +- std and the per-seed differences vs 1e-3.

    OMP_NUM_THREADS=1 python scripts/sweep_aib_beta0.py DATA_ROOT RUNS_DIR --seeds 0 1 2 3 4
"""
import argparse, sys
from pathlib import Path
import torch
import pandas as pd
from mmrepro.protocols import protocol_config
from mmrepro.data import load_dataset
from mmrepro.analysis.report import run_grid, seed_table

ROOT = Path(__file__).resolve().parent.parent
BETAS = (1e-4, 1e-3, 1e-2)

if __name__ == '__main__':
    ap = argparse.ArgumentParser(); ap.add_argument('data_root'); ap.add_argument('runs_dir')
    ap.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2, 3, 4]); a = ap.parse_args()
    torch.set_num_threads(1)
    base = protocol_config('cpu', 'avdigits', data_root=a.data_root)
    base['train'].update(device='cpu', progress=False); base['train'].setdefault('clip_grad', 40.0)
    d_ = dict(base['data']); data = load_dataset(d_.pop('name'), **d_)
    variants = {f'{b:g}': dict(name='cal', T=8.0, gamma=4.0, aib_beta0=b) for b in BETAS}
    runs = run_grid(variants, a.seeds, base, Path(a.runs_dir), data_for=lambda s: (base['data'], data), progress=False)
    df = seed_table(runs, lambda r: dict(acc=r['selected']['test']['acc'], cpu_threads=r.get('versions', {}).get('cpu_threads')))
    df = df.rename(columns={'variant': 'aib_beta0'})
    ref = df[df.aib_beta0 == '0.001'].set_index('seed')['acc']
    df['diff_vs_1e-3'] = [r.acc - ref[r.seed] for r in df.itertuples()]
    df[['acc', 'diff_vs_1e-3']] = df[['acc', 'diff_vs_1e-3']].round(2)
    out = ROOT/'figures'/'cal_aib_beta0_avdigits.csv'; df.to_csv(out, index=False)
    print(df.to_string(index=False))
    print(df.groupby('aib_beta0', sort=False)[['acc', 'diff_vs_1e-3']].agg(['mean', 'std']).round(2).to_string())
    print(f'wrote {out}')
