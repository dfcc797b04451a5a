"""ARL on AV-Digits, the notebook's `cpu` protocol: write-back fixed, the write-back defect alone (the notebook's
earlier "as released"), and the full release (`ARL_AS_RELEASED`: no write-back, strict start, schedule stepped
first, the test-accuracy condition). One torch thread. Writes figures/arl_release_avdigits.csv (one row per variant
and seed) and prints mean +- std.

    OMP_NUM_THREADS=1 python scripts/arl_release_avdigits.py DATA_ROOT RUNS_DIR --seeds 0 1 2
"""
import argparse
from pathlib import Path
import torch
from mmrepro.protocols import protocol_config
from mmrepro.data import load_dataset
from mmrepro.analysis.report import run_grid, seed_table
from mmrepro.methods.cal import ARL_AS_RELEASED, arl_settings

ROOT = Path(__file__).resolve().parent.parent

if __name__ == '__main__':
    ap = argparse.ArgumentParser(); ap.add_argument('data_root'); ap.add_argument('runs_dir')
    ap.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2]); a = ap.parse_args()
    torch.set_num_threads(1)
    base = protocol_config('cpu', 'avdigits', data_root=a.data_root)
    base['train'].update(device='cpu', progress=False); base['train'].setdefault('clip_grad', 40.0)
    d_ = dict(base['data']); data = load_dataset(d_.pop('name'), **d_)
    arl = dict(name='arl', **arl_settings('avdigits'))
    variants = {'arl': arl, 'arl, write-back off only': dict(arl, fix_writeback=False), 'arl, as released': dict(arl, **ARL_AS_RELEASED)}
    runs = run_grid(variants, a.seeds, base, Path(a.runs_dir), data_for=lambda s: (base['data'], data), progress=False)
    df = seed_table(runs, lambda r: dict(acc=round(r['selected']['test']['acc'], 2), cpu_threads=r.get('versions', {}).get('cpu_threads')))
    out = ROOT/'figures'/'arl_release_avdigits.csv'; df.to_csv(out, index=False)
    print(df.to_string(index=False))
    print(df.groupby('variant', sort=False)['acc'].agg(['mean', 'std']).round(2).to_string())
    print(f'wrote {out}')
