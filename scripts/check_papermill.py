"""Run each parameterised notebook under papermill with its defaults (other seeds) and prove the values reached it.

A notebook is parameterised when one of its cells carries the `parameters` tag. Each such notebook prints a line
`PARAMS {json}` with the values it runs with; this script runs it with fresh seeds (as many as its default) and
temporary output folders, and checks (1) that papermill injected them, (2) that the notebook printed them back,
(3) for notebooks that train, that the results files of the runs record them, and (4), once, that a misspelt
parameter is refused. The runs are the notebooks' default runs: nbdev-test skips these notebooks (test.sh), so each
notebook is executed once, here.
"""
import json, os, random, subprocess, sys, tempfile, argparse, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

def parameterised(nb_path):
    nb = json.loads(nb_path.read_text())
    return any('parameters' in c.get('metadata', {}).get('tags', []) for c in nb['cells'])

def notebooks(): return [p for p in sorted((ROOT/'nbs').glob('*.ipynb')) if parameterised(p)]

def defaults(nb_path) -> dict:
    "The parameter cell's assignments, read without running it."
    nb = json.loads(nb_path.read_text()); out = {}
    cell = next(c for c in nb['cells'] if 'parameters' in c.get('metadata', {}).get('tags', []))
    ns = {}; exec(''.join(cell['source']), {}, ns)
    return ns

def printed_params(nb):
    for c in nb['cells']:
        for o in c.get('outputs', []):
            for line in ''.join(o.get('text', '')).splitlines():
                if line.startswith('PARAMS '): return json.loads(line[7:])
    return None

def papermill(nb_path, values, d):
    "Run `nb_path` with `values`, writing its runs and figures under `d` (MMREPRO_OUTPUT); (process, executed notebook)."
    out = Path(d)/nb_path.name
    cmd = [sys.executable, '-m', 'papermill', str(nb_path), str(out), '--cwd', str(nb_path.parent), '--no-progress-bar']
    for k, v in values.items():  # scalars with -p (papermill types ints, floats and True/False); lists as YAML with -y
        cmd += ['-y', json.dumps({k: v})] if isinstance(v, (list, dict)) else ['-p', k, str(v)]
    return subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, 'MMREPRO_OUTPUT': str(d)}), out

def check(nb_path):
    t0 = time.time()
    dflt = defaults(nb_path)
    seed = random.randint(1000, 9999)
    values = {'seeds': [seed + i for i in range(len(dflt['seeds']))]} if 'seeds' in dflt else {'seed': seed}
    with tempfile.TemporaryDirectory() as d:
        r, out = papermill(nb_path, values, d)
        if r.returncode != 0:
            print(r.stdout[-3000:], r.stderr[-3000:]); return f'{nb_path.name}: papermill failed'
        nb = json.loads(out.read_text())
        injected = [c for c in nb['cells'] if 'injected-parameters' in c.get('metadata', {}).get('tags', [])]
        if not injected: return f'{nb_path.name}: papermill injected no parameters (is the parameters tag stripped?)'
        got = printed_params(nb)
        if got is None: return f'{nb_path.name}: the notebook printed no PARAMS line'
        for k, v in values.items():
            if got.get(k) != v: return f'{nb_path.name}: -p {k} {v!r} did not reach the notebook (it ran with {got.get(k)!r})'
        seeds = set(values.get('seeds', [values.get('seed')]))
        results = list((Path(d)/'runs').rglob('result.json'))
        for res in results:
            cfg = json.loads(res.read_text())['config']['config']
            if 'train' in cfg and cfg['train'].get('seed') not in seeds: return f'{res}: the run used seed {cfg["train"].get("seed")}, not one of {sorted(seeds)}'
        figs = list((Path(d)/'figures').glob('*.png'))
        if not figs and nb_path.name != '09_demo.ipynb' and not results: return f'{nb_path.name}: no run and no figure was written under MMREPRO_OUTPUT'
        print(f'  {nb_path.name}: {values} reached the notebook and its {len(results)} run(s); {len(figs)} figure(s); {time.time() - t0:.0f} s', flush=True)
    return None

def check_refused(nb_path):
    "A misspelt parameter (`-p epoch 1`) stops the notebook with a clear error instead of running with the default."
    with tempfile.TemporaryDirectory() as d:
        r, out = papermill(nb_path, {'epoch': 1}, d)
        msg = r.stdout + r.stderr
        if r.returncode == 0 or "unknown notebook parameter(s) 'epoch' (did you mean 'epochs'?)" not in msg:
            return f'{nb_path.name}: -p epoch 1 was not refused with a clear error (exit {r.returncode})'
        print(f'  {nb_path.name}: -p epoch 1 refused: "unknown notebook parameter(s) \'epoch\' (did you mean \'epochs\'?)"')
    return None

def check_hint(nb_path, values:dict, hint:str):
    "A parameter combination the notebook does not take stops it with `hint` in its one-line error."
    with tempfile.TemporaryDirectory() as d:
        r, out = papermill(nb_path, values, d)
        if r.returncode == 0 or hint not in r.stdout + r.stderr:
            return f'{nb_path.name}: {values} did not stop with "{hint}" (exit {r.returncode})'
        print(f'  {nb_path.name}: {values} refused with "{hint}"')
    return None

def check_sweep(nb_path):
    "The notebook's run handed to the sweep runner as a Slurm job (submitit's local executor): the parameters reach it and the run is done."
    values = {'seed': random.randint(1000, 9999), 'executor': 'slurm', 'workers': 2, 'slurm': {'cluster': 'local', 'time': 10}}
    with tempfile.TemporaryDirectory() as d:
        r, out = papermill(nb_path, values, d)
        if r.returncode != 0: print(r.stdout[-3000:], r.stderr[-3000:]); return f'{nb_path.name}: papermill with {values} failed'
        got = printed_params(json.loads(out.read_text())) or {}
        if any(got.get(k) != v for k, v in values.items()): return f'{nb_path.name}: {values} did not reach the notebook (it ran with {got})'
        res = [json.loads(p.read_text()) for p in (Path(d)/'runs').rglob('result.json')]
        if not res or any(x['status'] != 'complete' or x['config']['config']['train']['seed'] != values['seed'] for x in res):
            return f'{nb_path.name}: no complete run of seed {values["seed"]} under {d}/runs'
        if not list((Path(d)/'runs').rglob('.submitit')): return f'{nb_path.name}: the run did not go through submitit (no .submitit folder)'
        print(f'  {nb_path.name}: {values} reached the notebook; its run trained as a submitit job')
    return None

if __name__ == '__main__':
    ap = argparse.ArgumentParser(); ap.add_argument('--jobs', type=int, default=2); ap.add_argument('--list-re', action='store_true')
    a = ap.parse_args()
    nbs = notebooks()
    if not nbs: sys.exit('no parameterised notebook found')
    if a.list_re: print('|'.join(f'^{p.name}$' for p in nbs).replace('.', r'\.')); sys.exit(0)
    demo = ROOT/'nbs'/'09_demo.ipynb'
    # the longest notebooks first, so that the two workers finish together
    order = sorted(nbs, key=lambda p: -p.stat().st_size)
    with ThreadPoolExecutor(a.jobs) as ex:
        errors = [e for e in ex.map(check, order) if e]
        errors += [e for e in [check_refused(demo), check_sweep(demo), check_hint(ROOT/'nbs'/'04_mixup.ipynb', {'dataset': 'cremad'}, 'use -p preset ogmge, legacy_ogm, remix or midas')] if e]
    for e in errors: print('FAIL', e)
    sys.exit(1 if errors else 0)
