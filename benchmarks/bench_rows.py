"""MIDAS Table 1 rows SMV, AMCo, LFM and MCR (`mmrepro.methods.valuation`, `.cooperation`): their cost per training
step against joint training, and their 5-seed AV-Digits run under the `cpu` protocol (the protocol of the AV-Digits
table of `nbs/05_midas.ipynb`: the same data, lr, epochs and reported epoch as its joint row).

    python benchmarks/bench_rows.py cost                                             # seconds per step vs joint (one run)
    python benchmarks/bench_rows.py avdigits --data-root /work/shared/data --seeds 0 1 2 3 4   # accuracy (long)
    python benchmarks/bench_rows.py report                                           # RESULTS.md section from the saved files

Results: `benchmarks/results/rows_cost_cpu.json`, the per-seed CSV `benchmarks/results/p4_rows_a_avdigits.csv` and its
summary `benchmarks/results/p4_rows_a_avdigits.md`; the section `<!-- bench_rows -->` of `benchmarks/RESULTS.md`.
"""
import argparse, datetime, json, os, platform, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent)); from _md import replace_section  # noqa: E402
import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from mmrepro.core import atomic_write_json

MARKER = '<!-- bench_rows -->'
RES = ROOT/'benchmarks'/'results'
CSV, SUMMARY, COST = RES/'p4_rows_a_avdigits.csv', RES/'p4_rows_a_avdigits.md', RES/'rows_cost_cpu.json'
ROWS = {'joint': dict(name='joint_misval'), 'smv': dict(name='smv'), 'amco': dict(name='amco'), 'lfm': dict(name='lfm'), 'mcr': dict(name='mcr')}

def machine() -> dict:
    return dict(date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'), torch=torch.__version__,
                threads=torch.get_num_threads(), cpu=platform.processor() or platform.machine(), cores=os.cpu_count())

def avdigits(args):
    "Every row for every seed under the cpu protocol on AV-Digits (05_midas's joint row: `joint_misval`)."
    import mmrepro.methods  # noqa: F401  (registers the methods)
    from mmrepro.protocols import protocol_config
    from mmrepro.data import load_dataset
    from mmrepro.analysis.report import run_grid, seed_table, mean_std, paired_diffs
    base = protocol_config('cpu', 'avdigits', data_root=args.data_root)
    base['train'].update(device='cpu', progress=False)
    cache = {}
    def data_for(seed):
        cfg = protocol_config('cpu', 'avdigits', seed=seed, data_root=args.data_root)['data']; key = json.dumps(cfg, sort_keys=True)
        if key not in cache: d = dict(cfg); cache[key] = load_dataset(d.pop('name'), **d)
        return cfg, cache[key]
    rows = {k: v for k, v in ROWS.items() if k in args.rows}
    t0 = time.time()
    runs = run_grid(rows, args.seeds, base, ROOT/'runs'/'p4_rows_a_avdigits', data_for=data_for)
    mods = data_for(args.seeds[0])[1].modalities
    def row(res):
        t = res['selected']['test']
        return dict(acc=t['acc'], macro_f1=t['macro_f1'], **{f'{m} only (zero-out)': t.get(f'acc_zero_out_{m}', np.nan) for m in mods},
                    **{'selected epoch': res['selected']['epoch'], 'legacy best test': res['legacy_best_test']['acc']})
    per_seed = seed_table(runs, row)
    RES.mkdir(parents=True, exist_ok=True); per_seed.to_csv(CSV, index=False, float_format='%.4f')
    table, diffs = mean_std(per_seed, 'AV-Digits, cpu protocol, test % at the last epoch'), paired_diffs(per_seed, 'joint')
    cmd = f"python benchmarks/bench_rows.py avdigits --data-root DATA --seeds {' '.join(map(str, args.seeds))}"
    SUMMARY.write_text(f"Made by `{cmd}` ({len(runs)} runs, trained or read back from their folders under runs/p4_rows_a_avdigits, "
                       f"this call {time.time() - t0:.0f} s, {machine()['date']}, OMP_NUM_THREADS="
                       f"{os.environ.get('OMP_NUM_THREADS', 'unset')}, other jobs sharing the 2 cores). Protocol: "
                       f"`protocol_config('cpu', 'avdigits')` = {json.dumps(base['train'])}; every method at its defaults.\n\n"
                       + table.to_markdown() + "\n\nSeed-paired difference to joint (`paired_diffs`):\n\n" + diffs.to_markdown() + "\n")
    print(SUMMARY.read_text())

def cost(args):
    "Seconds per training epoch of each row (warm-up off) against joint training, interleaved rounds, medians; SMV's valuation pass apart."
    import mmrepro.methods  # noqa: F401
    from mmrepro.train import METHODS, Trainer, TrainConfig
    from mmrepro.experiment import merge_config
    from mmrepro.protocols import protocol_config
    from mmrepro.data import load_dataset
    from mmrepro.encoders import build_model
    from mmrepro.methods.valuation import valuate
    cfg = protocol_config('cpu', 'synthetic')
    d = dict(cfg['data']); data = load_dataset(d.pop('name'), **d)
    opts = {'joint': dict(name='joint'), 'smv': dict(name='smv', warmup_epochs=0),
            'amco': dict(name='amco'), 'lfm': dict(name='lfm'), 'mcr': dict(name='mcr')}
    trainers = {}
    for k, o in opts.items():
        torch.manual_seed(0)
        o = dict(o); meth = METHODS.build(o.pop('name'), **o)
        model = meth.prepare_model(build_model(data.in_shapes, data.num_classes, **cfg.get('model', {})))
        t = Trainer(model, data, meth, TrainConfig(**dict(cfg['train'], progress=False, device='cpu', epochs=1000)), tempfile.mkdtemp())
        t._setup(); meth.configure(t.cfg); meth.on_fit_start(t); trainers[k] = t
    times, val = {k: [] for k in opts}, []
    for r in range(args.rounds):
        for k, t in trainers.items():
            t0 = time.perf_counter(); t.train_epoch(r); times[k].append(time.perf_counter() - t0)
        s = trainers['smv']; t0 = time.perf_counter(); valuate(s.method, s); val.append(time.perf_counter() - t0)
    med = {k: float(np.median(v[1:])) for k, v in times.items()}; v_med = float(np.median(val[1:]))
    steps = len(trainers['joint'].loader)
    out = dict(machine=machine(), data=dict(name='synthetic (cpu protocol)', train=len(data.train), steps_per_epoch=steps, in_shapes=data.in_shapes),
               rounds=args.rounds, seconds_per_epoch=med, smv_valuation_pass_s=v_med,
               ratio_epoch_vs_joint={k: med[k] / med['joint'] for k in med},
               ratio_step_vs_joint={k: (med[k] - (v_med if k == 'smv' else 0.)) / med['joint'] for k in med})
    atomic_write_json(COST, out); print(json.dumps(out, indent=1))

def report(args):
    "The RESULTS.md section from the saved files."
    parts = []
    if COST.exists():
        c = json.loads(COST.read_text())
        parts.append(f"Cost per training epoch against joint training ({c['data']['name']}, {c['data']['steps_per_epoch']} steps, small CNN pair, "
                     f"median of {c['rounds'] - 1} interleaved rounds, {c['machine']['date']}, {c['machine']['threads']} threads; `python benchmarks/bench_rows.py cost`):\n\n"
                     "| method | s / epoch | epoch vs joint | step vs joint (SMV: without its valuation pass) |\n|---|---|---|---|\n" +
                     ''.join(f"| {k} | {c['seconds_per_epoch'][k]:.3f} | {c['ratio_epoch_vs_joint'][k]:.2f}x | {c['ratio_step_vs_joint'][k]:.2f}x |\n" for k in c['seconds_per_epoch']))
    if SUMMARY.exists(): parts.append("AV-Digits, 5 seeds (`benchmarks/results/p4_rows_a_avdigits.csv`):\n\n" + SUMMARY.read_text())
    replace_section(ROOT/'benchmarks'/'RESULTS.md', MARKER, '## MIDAS Table 1 rows: SMV, AMCo, LFM, MCR\n\n' + '\n'.join(parts))

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    sub = p.add_subparsers(dest='cmd', required=True)
    a = sub.add_parser('avdigits'); a.add_argument('--data-root', required=True); a.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2, 3, 4])
    a.add_argument('--rows', nargs='+', default=list(ROWS), choices=list(ROWS))
    c = sub.add_parser('cost'); c.add_argument('--rounds', type=int, default=4)
    sub.add_parser('report')
    args = p.parse_args()
    {'avdigits': avdigits, 'cost': cost, 'report': report}[args.cmd](args)

if __name__ == '__main__':
    main()
