"""Cost of every registered method relative to joint training (protocol.md section 8): per-step training time and
extra peak memory, measured in one process, one method after the other, interleaved over `--repeats` rounds (the
median over rounds of each method's time over joint training's in the same round, so that a while when other jobs
slow the machine slows both).

    python benchmarks/bench_costs.py                      # the embedded data, cpu protocol ('grid' size), every method
    python benchmarks/bench_costs.py --device cuda --preset ogmge --dataset cremad --data-root CACHE   # a paper preset on a GPU
    python benchmarks/bench_costs.py report               # RESULTS.md section from the saved json

Per-step time: the trainer's own training-time record of the last epoch (evaluation excluded) over its steps.
Extra peak memory, from a second pass of the same runs: on a GPU `torch.cuda.max_memory_allocated` over the run; on
the CPU the process's peak resident set size (Linux VmHWM, reset through /proc/self/clear_refs after malloc_trim) with
glibc serving allocations >= 64 KB by mmap and checkpoints written in the main thread, so that the RSS follows the
live memory; minus the value at the run's start, minus joint training's. Resolution on the CPU: about 0.3 MB. The methods are those of nbs/06_benchmark.ipynb (`mmrepro.analysis.benchmark.benchmark_variants`).
Results: `benchmarks/results/costs_<device>_<dataset>.json` and the `<!-- bench_costs -->` section of RESULTS.md.
"""
import argparse, datetime, json, os, platform, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent)); from _md import replace_section  # noqa: E402
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from mmrepro.core import atomic_write_json  # noqa: E402

MARKER = '<!-- bench_costs -->'
RES = ROOT/'benchmarks'/'results'

def machine() -> dict:
    return dict(date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'), torch=torch.__version__,
                threads=torch.get_num_threads(), cpu=platform.processor() or platform.machine(), cores=os.cpu_count(),
                gpu=torch.cuda.get_device_name() if torch.cuda.is_available() else None)

def measure(a) -> Path:
    import mmrepro.methods, mmrepro.datasets  # noqa: F401  (register every method and dataset)
    from mmrepro.protocols import protocol_config
    from mmrepro.data import load_dataset
    from mmrepro.analysis.benchmark import benchmark_variants, measure_costs
    root = dict(data_root=a.data_root) if a.dataset == 'avdigits' else dict(cache_dir=a.data_root) if a.data_root else {}
    size = dict(size='grid') if (a.preset, a.dataset) == ('cpu', 'synthetic') else {}
    base = protocol_config(a.preset, a.dataset, **root, **size)
    base['train'].update(device=a.device, progress=False)
    d = dict(base['data']); data = load_dataset(d.pop('name'), **d)
    variants = benchmark_variants(data.modalities, a.methods or None)
    df = measure_costs({n: dict(base, method=m) for n, m in variants.items()}, data, steps=a.steps, epochs=2, repeats=a.repeats)
    out = RES/f"costs_{df['device'].iloc[0].split(':')[0]}_{a.dataset}.json"
    atomic_write_json(out, dict(machine=machine(), preset=a.preset, dataset=a.dataset, steps=a.steps, repeats=a.repeats,
                                rows={n: {k: (v if isinstance(v, str) else float(v)) for k, v in r.items()} for n, r in df.iterrows()}))
    print(df.to_markdown(floatfmt='.2f'))
    return out

def report():
    lines = [MARKER, '## Method costs relative to joint training (`bench_costs.py`)', '',
             'Per-step training time and extra peak memory of every registered method, measured in one process one method',
             'after the other: time over interleaved rounds (the median of each round\'s ratio to joint), memory in a separate',
             'pass. CPU memory is the peak resident set size with allocations >= 64 KB served by mmap (resolution about 0.3 MB);',
             'GPU memory is',
             '`torch.cuda.max_memory_allocated`. Times on a machine shared with other jobs are noisy: compare within one table.', '']
    for f in sorted(RES.glob('costs_*.json')):
        r = json.loads(f.read_text()); m = r['machine']
        lines += [f"**{f.name}**: {r['dataset']}, preset {r['preset']}, {r['steps']} steps per epoch, {r['repeats']} rounds; "
                  f"{m['date']}, torch {m['torch']}, {m['threads']} threads, {m['cores']} cores{', ' + m['gpu'] if m.get('gpu') else ''}.", '',
                  '| method | ms / step | time × joint | peak MB | extra peak MB | memory |', '|---|---|---|---|---|---|']
        for n, row in sorted(r['rows'].items(), key=lambda kv: kv[1]['time x joint']):
            lines.append(f"| {n} | {row['step_ms']:.1f} | {row['time x joint']:.2f} | {row['peak_mb']:.1f} | {row['extra peak MB']:+.1f} | {row['memory']} |")
        lines.append('')
    replace_section(ROOT/'benchmarks'/'RESULTS.md', MARKER, '\n'.join(lines))

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('what', nargs='?', default='measure', choices=['measure', 'report'])
    ap.add_argument('--preset', default='cpu'); ap.add_argument('--dataset', default='synthetic'); ap.add_argument('--data-root', default='')
    ap.add_argument('--device', default='cpu'); ap.add_argument('--steps', type=int, default=6); ap.add_argument('--repeats', type=int, default=5)
    ap.add_argument('--methods', nargs='*', default=[])
    a = ap.parse_args()
    if a.what == 'measure': measure(a)
    report()
