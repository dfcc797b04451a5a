"""MLA, Remix and D&R (issue 21, helper bench-b) against joint training: accuracy on AV-Digits (5 seeds, `cpu`
protocol: the same lr, epochs, schedule and no clipping for every method, the last epoch reported) and per-step cost
on the CPU relative to joint training, measured in one process.

    python benchmarks/bench_bench_b.py avdigits --data-root /work/shared/data --seeds 0 1 2 3 4   # accuracy (long)
    python benchmarks/bench_bench_b.py cost                                                      # seconds per step vs joint
    python benchmarks/bench_bench_b.py report                                                    # RESULTS.md section

Per-seed rows go to `benchmarks/results/bench_b_avdigits.csv` (rewritten after each seed, so a cut-short run keeps
whole seeds), the cost to `benchmarks/results/bench_b_cost_cpu.json`; the section after `<!-- bench_bench_b -->` of
`benchmarks/RESULTS.md` is regenerated from them.
"""
import argparse, datetime, json, platform, statistics, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent)); from _md import replace_section  # noqa: E402
import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from mmrepro.core import atomic_write_json

MARKER = '<!-- bench_bench_b -->'
RES = ROOT/'benchmarks'/'results'
CSV = RES/'bench_b_avdigits.csv'
VARIANTS = {'joint': dict(name='joint'), 'mla': dict(name='mla'), 'remix': dict(name='remix'), 'dnr': dict(name='dnr')}

def machine() -> dict:
    return dict(date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'), torch=torch.__version__,
                threads=torch.get_num_threads(), cpu=platform.machine(), cores=__import__('os').cpu_count())

def avdigits(args) -> dict:
    "AV-Digits, cpu protocol: joint, mla, remix, dnr at their defaults, per seed; test % at the last epoch."
    import pandas as pd
    from mmrepro.data import load_dataset
    from mmrepro.analysis.report import run_grid
    from mmrepro.protocols import protocol_config
    base = protocol_config('cpu', 'avdigits', args.data_root)
    base['train'].update(device='cpu', progress=False)
    _d = dict(base['data']); data = load_dataset(_d.pop('name'), **_d)
    rows = []
    for s in args.seeds:                                      # one seed at a time, so that a cut-short run keeps whole seeds
        runs = run_grid(VARIANTS, [s], base, Path(args.out_dir), data_for=lambda _: (base['data'], data), progress=False)
        for (n, _), r in runs.items():
            t = r['selected']['test']
            rows.append(dict(variant=n, seed=s, acc=t['acc'], macro_f1=t['macro_f1'],
                             **{f'{k}_{m}': t.get(f'acc_{k}_{m}', np.nan) for k in ('heads', 'zero_out') for m in data.modalities},
                             train_s_per_epoch=r['timing']['mean_train_seconds'], run_s=sum(h['seconds'] for h in r['history'])))
        CSV.parent.mkdir(exist_ok=True)
        pd.DataFrame(rows).to_csv(CSV, index=False, float_format='%.4f')
        print(pd.DataFrame(rows).tail(len(VARIANTS)).to_string(), flush=True)
    return dict(machine=machine(), epochs=base['train']['epochs'], lr=base['train']['lr'], clip_grad=base['train'].get('clip_grad'),
                n_test=len(data.test), modalities=list(data.modalities), csv=str(CSV.relative_to(ROOT)), seeds=list(args.seeds))

def cost(args) -> dict:
    "CPU seconds per training step of each method against joint (hooks timed apart), interleaved epochs in one process."
    from mmrepro.experiment import build_run, merge_config, default_config
    from mmrepro.protocols import protocol_config
    from mmrepro.train import Trainer
    variants = {'joint': dict(name='joint'), 'mla': dict(name='mla'), 'remix': dict(name='remix', warmup=0),
                'dnr': dict(name='dnr', reinit_first=0, reinit_epoch=1, reinit_num=10 ** 6)}   # each hook's work every epoch, to time it
    base = protocol_config('cpu', 'synthetic'); base['data'].update(n_train=args.n_train)
    trainers, hook = {}, {k: [] for k in variants}
    for name, m in variants.items():
        cfg = merge_config(default_config(), dict(base, method=m, train=dict(base['train'], epochs=args.rounds + 2, device='cpu', progress=False)))
        data, model, method, tcfg = build_run(cfg)
        t = Trainer(model, data, method, tcfg, tempfile.mkdtemp(), run_config=cfg); t._setup(); method.on_fit_start(t)
        start = method.on_epoch_start
        def timed(state, start=start, name=name):
            t0 = time.process_time(); start(state); hook[name].append(time.process_time() - t0)
        method.on_epoch_start = timed
        trainers[name] = t
    cpu, wall = {k: [] for k in variants}, {k: [] for k in variants}
    for r in range(args.rounds + 1):                          # round 0 warms up, not counted
        for name, t in trainers.items():
            t0, w0 = time.process_time(), time.perf_counter(); t.train_epoch(r); dt, dw = time.process_time() - t0, time.perf_counter() - w0
            if r: cpu[name].append(dt - hook[name][-1]); wall[name].append(dw - hook[name][-1])
    steps = len(trainers['joint'].loader)
    out = dict(machine=machine(), data=dict(base['data']), batch_size=base['train']['batch_size'], steps_per_epoch=steps, rounds=args.rounds, variants={})
    for name in variants:
        ratios = [a / b for a, b in zip(cpu[name], cpu['joint'])]
        out['variants'][name] = dict(ms_per_step=1e3 * statistics.mean(cpu[name]) / steps, ratio_vs_joint=sum(cpu[name]) / sum(cpu['joint']),
                                     ratio_min=min(ratios), ratio_max=max(ratios), wall_ratio_vs_joint=sum(wall[name]) / sum(wall['joint']),
                                     hook_s=statistics.mean(hook[name][1:]), epoch_s=statistics.mean(cpu[name]), s_all=cpu[name])
    return out

def _ms(v, sign:str='') -> str: return f"{np.mean(v):{sign}.1f} ± {np.std(v, ddof=1):.1f}" if len(v) > 1 else f"{np.mean(v):{sign}.1f}"

def report(md:Path=ROOT/'benchmarks'/'RESULTS.md'):
    "Regenerate this script's section of RESULTS.md from the saved files (a missing one is skipped)."
    L = [MARKER, '## MLA, Remix, D&R against joint training (issue 21, bench-b)', '']
    f = RES/'bench_b_avdigits.json'
    if f.exists() and CSV.exists():
        import pandas as pd
        from mmrepro.analysis.report import paired_diffs
        r = json.loads(f.read_text()); d = pd.read_csv(CSV); seeds = sorted(int(x) for x in d['seed'].unique())
        L += [f"AV-Digits, `cpu` protocol ({r['epochs']} epochs, lr {r['lr']}, clipping {r['clip_grad']}, the same for every method; "
              f"the last epoch reported), seeds {seeds}, test % ({r['n_test']} test clips: one clip is {100 / r['n_test']:.1f} points), "
              f"every method at its defaults. Per seed: `{r['csv']}`. `{r['command']}`, {r['machine']['date'][:16]} UTC, one torch thread.", '']
        cols = [c for c in d.columns if c.startswith(('heads_', 'zero_out_'))]
        L += ['| method | test acc | macro-F1 | ' + ' | '.join(cols) + ' |', '|---' * (3 + len(cols)) + '|']
        for n in dict.fromkeys(d['variant']):
            g = d[d['variant'] == n]
            L.append(f"| {n} | {_ms(g['acc'])} | {_ms(g['macro_f1'])} | " + ' | '.join(_ms(g[c].dropna()) if g[c].notna().any() else '—' for c in cols) + ' |')
        pdf = paired_diffs(d, 'joint', 'acc')
        L += ['', 'Seed-paired differences against joint (test acc):', '', '| method | ' + ' | '.join(pdf.columns) + ' |', '|---' * (1 + len(pdf.columns)) + '|']
        L += [f"| {i} | " + ' | '.join(str(v) for v in row) + ' |' for i, row in pdf.iterrows()]
        L.append('')
    f = RES/'bench_b_cost_cpu.json'
    if f.exists():
        r = json.loads(f.read_text()); m = r['machine']; d = r['data']
        L += [f"Cost: CPU seconds of the process (one thread) per training step, the epoch hooks timed apart, `cpu` protocol on the embedded "
              f"data ({d['n_train']} training samples, batch {r['batch_size']}, {r['steps_per_epoch']} steps, small CNN pair), {r['rounds']} epochs "
              f"interleaved across the methods in one process after one warm-up epoch; ratio: total over the epochs to joint's (min-max of the "
              f"per-epoch ratios; wall-clock ratio, other jobs sharing the cores). Hook: the epoch-start work (Remix's diagnosis pass, every epoch after "
              f"its warm-up; D&R's diagnosis and re-initialisation, forced every epoch here, 3 times per run by default). `{r['command']}`, "
              f"{m['date'][:16]} UTC, torch {m['torch']}.", '',
              '| method | ms per step | step ratio vs joint | wall-clock ratio | hook s per call | hook / joint epoch |', '|---|---|---|---|---|---|']
        je = r['variants']['joint']['epoch_s']
        for k, v in r['variants'].items():
            L.append(f"| {k} | {v['ms_per_step']:.1f} | **{v['ratio_vs_joint']:.2f}** ({v['ratio_min']:.2f}-{v['ratio_max']:.2f}) | {v['wall_ratio_vs_joint']:.2f} | "
                     f"{v['hook_s']:.3f} | {v['hook_s'] / je:.2f} |")
        L.append('')
    replace_section(md, MARKER, '\n'.join(L) + '\n')

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = p.add_subparsers(dest='cmd', required=True)
    a = sub.add_parser('avdigits'); a.add_argument('--data-root', required=True); a.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2, 3, 4])
    a.add_argument('--out-dir', default=str(ROOT/'runs'/'bench_b_avdigits'))
    c = sub.add_parser('cost'); c.add_argument('--rounds', type=int, default=6); c.add_argument('--n-train', type=int, default=240)
    sub.add_parser('report')
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    cmd = 'python benchmarks/bench_bench_b.py ' + ' '.join(sys.argv[1:] if argv is None else argv)
    if args.cmd == 'avdigits': atomic_write_json(RES/'bench_b_avdigits.json', dict(avdigits(args), command=cmd))
    elif args.cmd == 'cost': atomic_write_json(RES/'bench_b_cost_cpu.json', dict(cost(args), command=cmd))
    report()

if __name__ == '__main__': main()
