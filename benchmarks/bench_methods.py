"""Speed of the methods' extra work on the CPU: OGM-GE's gradient modulation (foreach against the per-parameter loop)
and GMM-gap's per-epoch refit (an eval pass over the training split every epoch, against the training-epoch log, a
refit every 5 epochs, both, or one fit at the end of the warm-up), plus the accuracy ablation of those GMM-gap
refit options on AV-Digits (per seed; the CSV's seconds are wall-clock, other jobs sharing the cores: not a speed
measurement, `refit` is).

    python benchmarks/bench_methods.py ogm            # OGM-GE modulation: loop vs foreach, ResNet-18 pair shapes
    python benchmarks/bench_methods.py refit          # GMM-gap: seconds per epoch of each refit option vs joint
    python benchmarks/bench_methods.py ablation --data-root /work/shared/data --seeds 0 1 2 3 4   # accuracy (long)
    python benchmarks/bench_methods.py report         # RESULTS.md section from the saved json files

Results go to `benchmarks/results/methods_*.json` and the per-seed ablation to
`figures/gmm_gap_refit_ablation_avdigits.csv`; the section after `<!-- bench_methods -->` of
`benchmarks/RESULTS.md` is regenerated from them, the rest of RESULTS.md is kept.
"""
import argparse, datetime, json, os, platform, statistics, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent)); from _md import replace_section  # noqa: E402
import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from mmrepro.core import atomic_write_json

MARKER = '<!-- bench_methods -->'
RES = ROOT/'benchmarks'/'results'
ABL_CSV = ROOT/'figures'/'gmm_gap_refit_ablation_avdigits.csv'
REFIT_VARIANTS = {'eval_pass, refit every epoch (default)': {}, 'train_epoch_log, refit every epoch': dict(source='train_epoch_log'),
                  'eval_pass, refit every 5 epochs': dict(refit_every='5'),
                  'train_epoch_log, refit every 5 epochs': dict(source='train_epoch_log', refit_every='5'),
                  'eval_pass, fit once (end of warm-up)': dict(refit_every='once')}
DEFAULT = 'eval_pass, refit every epoch (default)'

def machine() -> dict:
    return dict(date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'), torch=torch.__version__,
                threads=torch.get_num_threads(), cpu=platform.processor() or platform.machine(), cores=os.cpu_count())

def _ogm_setup(args):
    "The ResNet-18 pair at CREMA-D's shapes, its conv kernels (what OGM-GE modulates by default) and random gradients."
    from mmrepro.encoders import build_model
    from mmrepro.methods.baselines import select_params
    torch.manual_seed(0)
    model = build_model({'audio': (1, 257, 188), 'visual': (3, 1, 224, 224)}, 6, encoder='resnet18')
    sel = [select_params(model.encoders[m], args.param_filter) for m in model.modalities]
    saved = [[torch.randn_like(p) for p in ps] for ps in sel]
    return sel, saved

def _restore(sel, saved):
    for ps, gs in zip(sel, saved):
        for p, g in zip(ps, gs): p.grad = g.clone()

def _ogm_call(sel, saved, k, ge, foreach, calls):
    "Restore the gradients, then time `calls` modulations of both encoders."
    from mmrepro.methods.baselines import modulate_gradients
    _restore(sel, saved)
    t0 = time.process_time()                                  # CPU time of this process: one thread, so other jobs' load stays out
    for _ in range(calls):
        for ps in sel: modulate_gradients(ps, k, ge, None, foreach=foreach)
    return (time.process_time() - t0) / calls

def _op_counts(sel, saved, k, ge, foreach) -> dict:
    "aten ops recorded by torch.profiler for one modulation of both encoders: all of them, and those called from Python."
    from torch.profiler import profile, ProfilerActivity
    from mmrepro.methods.baselines import modulate_gradients
    _ogm_call(sel, saved, k, ge, foreach, 1); _restore(sel, saved)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for ps in sel: modulate_gradients(ps, k, ge, None, foreach=foreach)
    ev = [e for e in prof.events() if e.name.startswith('aten::')]
    top = [e for e in ev if e.cpu_parent is None or not e.cpu_parent.name.startswith('aten::')]
    by = {}
    for e in top: by[e.name] = by.get(e.name, 0) + 1
    return dict(aten_ops=len(ev), top_level_aten_ops=len(top), top_level_by_name=dict(sorted(by.items())))

def ogm(args) -> dict:
    "OGM-GE's gradient modulation on the ResNet-18 pair: the per-parameter loop against the foreach path, interleaved rounds."
    sel, saved = _ogm_setup(args)
    k = torch.tensor(0.6)                                     # a 0-d tensor, as training_step leaves it
    out = dict(machine=machine(), tensors=[len(ps) for ps in sel], numel=[sum(p.numel() for p in ps) for ps in sel],
               param_filter=args.param_filter, rounds=args.rounds, calls=args.calls, settings={})
    for ge in (True, False):
        times = {False: [], True: []}
        for r in range(args.rounds + 1):                      # round 0 warms up and is not counted
            for fe in (False, True):
                dt = _ogm_call(sel, saved, k, ge, fe, args.calls)
                if r: times[fe].append(dt)
        loop, fe = statistics.median(times[False]), statistics.median(times[True])
        name = 'OGM-GE (ge=True)' if ge else 'OGM (ge=False)'
        out['settings'][name] = dict(loop_ms=1e3 * loop, foreach_ms=1e3 * fe, speedup=loop / fe, loop_ms_all=[1e3 * t for t in times[False]],
                                     foreach_ms_all=[1e3 * t for t in times[True]], ops_loop=_op_counts(sel, saved, k, ge, False),
                                     ops_foreach=_op_counts(sel, saved, k, ge, True))
        print(name, {k_: v for k_, v in out['settings'][name].items() if not k_.endswith('_all')}, flush=True)
    return out

def refit(args) -> dict:
    "CPU seconds per training epoch (the refit at its start included) of joint and the three gmm_gap refit options, interleaved."
    from mmrepro.experiment import build_run, merge_config, default_config
    from mmrepro.protocols import protocol_config
    from mmrepro.train import Trainer
    variants = {'joint': dict(name='joint')} | {k: dict(name='gmm_gap', warmup_epochs=1, **v) for k, v in REFIT_VARIANTS.items()}
    trainers, refit_s = {}, {k: [] for k in variants}
    base = protocol_config('cpu', 'synthetic')
    base['data'].update(n_train=args.n_train)
    for name, m in variants.items():
        cfg = merge_config(default_config(), dict(base, method=m, train=dict(base['train'], epochs=args.rounds + 2, device='cpu', progress=False)))
        data, model, method, tcfg = build_run(cfg)
        t = Trainer(model, data, method, tcfg, tempfile.mkdtemp(), run_config=cfg); t._setup(); method.on_fit_start(t)
        start = method.on_epoch_start
        def timed(state, start=start, name=name):
            t0 = time.process_time(); start(state); refit_s[name].append(time.process_time() - t0)
        method.on_epoch_start = timed
        trainers[name] = t
    times, wall = {k: [] for k in variants}, {k: [] for k in variants}
    for r in range(args.rounds + 1):                          # epoch 0: the warm-up, not counted
        for name, t in trainers.items():
            t0, w0 = time.process_time(), time.perf_counter(); t.train_epoch(r); dt, dw = time.process_time() - t0, time.perf_counter() - w0
            if r: times[name].append(dt); wall[name].append(dw)
        print(f'epoch {r}: ' + ', '.join(f'{n} {times[n][-1]:.2f}s' for n in trainers if r), flush=True)
    base_t = times['joint']
    out = dict(machine=machine(), data=dict(base['data']), batch_size=base['train']['batch_size'], rounds=args.rounds, variants={})
    for name in variants:
        ratios = [a / b for a, b in zip(times[name], base_t)]
        out['variants'][name] = dict(s_per_epoch=statistics.mean(times[name]), refit_s_per_epoch=statistics.mean(refit_s[name][1:]),
                                     ratio_vs_joint=sum(times[name]) / sum(base_t), ratio_min=min(ratios), ratio_max=max(ratios),
                                     wall_ratio_vs_joint=sum(wall[name]) / sum(wall['joint']), s_all=times[name], wall_s_all=wall[name],
                                     refit_s_all=refit_s[name][1:])
    return out

def ablation(args) -> dict:
    "AV-Digits, cpu protocol (the README's Paper 1 table): gmm_gap with each refit option of REFIT_VARIANTS, per seed."
    import pandas as pd
    from mmrepro.data import load_dataset
    from mmrepro.analysis.report import run_grid
    from mmrepro.protocols import protocol_config
    base = protocol_config('cpu', 'avdigits', args.data_root)
    base['train'].update(device='cpu', progress=False)
    warm = max(1, base['train']['epochs'] // 4)              # 02_gmm_gap.ipynb's default warm-up for the cpu preset
    opts = dict(name='gmm_gap', warmup_epochs=warm, gap='signed', shift='mean_pull', gap_grad='both', posterior='online')
    variants = {k: {**opts, **v} for k, v in REFIT_VARIANTS.items()}
    _d = dict(base['data']); data = load_dataset(_d.pop('name'), **_d)
    rows = []
    for s in args.seeds:                                      # one seed at a time, so that a cut-short run keeps whole seeds
        runs = run_grid(variants, [s], base, Path(args.out_dir), data_for=lambda _: (base['data'], data), progress=False)
        for (n, _), r in runs.items():
            t = r['selected']['test']
            rows.append(dict(variant=n, seed=s, acc=t['acc'], macro_f1=t['macro_f1'], audio=t.get('acc_heads_audio', np.nan),
                             visual=t.get('acc_heads_visual', np.nan), train_s_per_epoch=r['timing']['mean_train_seconds'], run_s=sum(h['seconds'] for h in r['history']),
                             fit_sources=';'.join(sorted({h['method'].get('fit_source', '') for h in r['history']} - {''}))))
        ABL_CSV.parent.mkdir(exist_ok=True)
        pd.DataFrame(rows).to_csv(ABL_CSV, index=False, float_format='%.4f')
        print(pd.DataFrame(rows).tail(len(variants)).to_string(), flush=True)
    return dict(machine=machine(), warmup_epochs=warm, epochs=base['train']['epochs'], n_test=len(data.test), csv=str(ABL_CSV.relative_to(ROOT)), rows=rows)

def _ms(v, sign:str='') -> str: return f"{np.mean(v):{sign}.1f} ± {np.std(v, ddof=1):.1f}" if len(v) > 1 else f"{np.mean(v):{sign}.1f}"

def report(md:Path=ROOT/'benchmarks'/'RESULTS.md'):
    "Regenerate the bench_methods section of RESULTS.md from the saved json files (a missing one is skipped)."
    L = [MARKER, '## Methods: OGM-GE gradient modulation and GMM-gap refit options (CPU)', '']
    f = RES/'methods_ogm_cpu.json'
    if f.exists():
        r = json.loads(f.read_text()); m = r['machine']
        L += [f"OGM-GE's `modulate_gradients` after each backward pass, on the ResNet-18 pair at CREMA-D's shapes "
              f"({sum(r['tensors'])} conv kernels, {sum(r['numel']) / 1e6:.1f} M gradient values, filled with randn), both encoders per call, "
              f"CPU time of the process (one thread), median of {r['rounds']} interleaved rounds of {r['calls']} calls; per-parameter loop (`foreach=False`, the old code) against "
              f"the foreach path. Ops: aten ops recorded by `torch.profiler` for one call, all of them and those called from Python "
              f"(top level). `{r['command']}`, {m['date'][:16]} UTC, torch {m['torch']}, {m['threads']} thread, other jobs sharing the cores.", '',
              '| setting | loop ms | foreach ms | speed-up | top-level aten ops: loop → foreach | all aten ops: loop → foreach |', '|---|---|---|---|---|---|']
        for k, v in r['settings'].items():
            L.append(f"| {k} | {v['loop_ms']:.1f} | {v['foreach_ms']:.1f} | {v['speedup']:.2f}x | {v['ops_loop']['top_level_aten_ops']} → "
                     f"{v['ops_foreach']['top_level_aten_ops']} | {v['ops_loop']['aten_ops']} → {v['ops_foreach']['aten_ops']} |")
        L += ['', 'Top-level ops of one GE call: loop ' + ', '.join(f'{k[6:]} {n}' for k, n in r['settings']['OGM-GE (ge=True)']['ops_loop']['top_level_by_name'].items())
              + '; foreach ' + ', '.join(f'{k[6:]} {n}' for k, n in r['settings']['OGM-GE (ge=True)']['ops_foreach']['top_level_by_name'].items()) + '.', '']
    f = RES/'methods_gmm_refit_cpu.json'
    if f.exists():
        r = json.loads(f.read_text()); m = r['machine']; d = r['data']
        L += [f"GMM-gap's refit options: CPU seconds of the process (one thread) per training epoch, the refit at the epoch's start "
              f"included (validation and test passes excluded), `cpu` protocol on the embedded data ({d['n_train']} training samples, batch {r['batch_size']}, small CNN pair), "
              f"warm-up 1 epoch, then {r['rounds']} epochs interleaved across the variants in one process; ratio to joint training: "
              f"total over the epochs (min-max of the per-epoch ratios; wall-clock ratio, other jobs sharing the cores). `{r['command']}`, {m['date'][:16]} UTC, torch {m['torch']}, {m['threads']} thread.", '',
              '| variant | CPU s per epoch | of which refit | ratio vs joint | wall-clock ratio |', '|---|---|---|---|---|']
        for k, v in r['variants'].items():
            L.append(f"| {k} | {v['s_per_epoch']:.2f} | {v['refit_s_per_epoch']:.3f} | **{v['ratio_vs_joint']:.2f}** ({v['ratio_min']:.2f}-{v['ratio_max']:.2f}) | {v.get('wall_ratio_vs_joint', float('nan')):.2f} |")
        L.append('')
    f = RES/'methods_gmm_refit_ablation_avdigits.json'
    if f.exists():
        import pandas as pd
        r = json.loads(f.read_text()); m = r['machine']
        d = pd.DataFrame(r['rows']); seeds = sorted(int(x) for x in d['seed'].unique())
        acc = d.pivot(index='seed', columns='variant', values='acc')
        L += [f"GMM-gap refit options on AV-Digits, `cpu` protocol (the README's Paper 1 table: {r['epochs']} epochs, warm-up "
              f"{r['warmup_epochs']}), seeds {seeds}, test % at the last epoch, one torch thread; difference: each seed against the "
              f"default (eval pass, refit every epoch) of the same seed. Per seed: `{r['csv']}`. "
              f"`python benchmarks/bench_methods.py ablation --data-root DATA --seeds {' '.join(map(str, seeds))}`, {m['date'][:16]} UTC.", '',
              '| variant | test acc | macro-F1 | audio head | visual head | test acc − default, per seed (mean) | audio head − default, per seed (mean) |',
              '|---|---|---|---|---|---|---|']
        aud = d.pivot(index='seed', columns='variant', values='audio')
        def dcol(t, k):
            diff = (t[k] - t[DEFAULT]).round(1)
            return '—' if k == DEFAULT else f"{', '.join(f'{x:+.1f}' for x in diff)} ({_ms(diff, '+')})"
        for k in dict.fromkeys(d['variant']):
            g = d[d['variant'] == k]
            L.append(f"| {k} | {_ms(g['acc'])} | {_ms(g['macro_f1'])} | {_ms(g['audio'])} | {_ms(g['visual'])} | {dcol(acc, k)} | {dcol(aud, k)} |")
        if 'n_test' in r: L += ['', f"One test clip is {100 / r['n_test']:.1f} points ({r['n_test']} test clips)."]
        L.append('')
    replace_section(md, MARKER, '\n'.join(L) + '\n')

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = p.add_subparsers(dest='cmd', required=True)
    a = sub.add_parser('ablation'); a.add_argument('--data-root', required=True); a.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2, 3, 4])
    a.add_argument('--out-dir', default=str(ROOT/'runs'/'bench_methods_refit_ablation'))
    o = sub.add_parser('ogm'); o.add_argument('--rounds', type=int, default=15); o.add_argument('--calls', type=int, default=5)
    o.add_argument('--param-filter', default='conv4d')
    r = sub.add_parser('refit'); r.add_argument('--rounds', type=int, default=10); r.add_argument('--n-train', type=int, default=240)
    sub.add_parser('report')
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    if args.cmd == 'ablation':
        res = ablation(args); atomic_write_json(RES/'methods_gmm_refit_ablation_avdigits.json', res)
    elif args.cmd == 'ogm': atomic_write_json(RES/'methods_ogm_cpu.json', dict(ogm(args), command='python benchmarks/bench_methods.py ' + ' '.join(sys.argv[1:])))
    elif args.cmd == 'refit': atomic_write_json(RES/'methods_gmm_refit_cpu.json', dict(refit(args), command='python benchmarks/bench_methods.py ' + ' '.join(sys.argv[1:])))
    report()

if __name__ == '__main__': main()
