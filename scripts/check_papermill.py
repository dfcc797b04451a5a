"""Run each parameterised notebook under papermill with `-p` values and prove the values reached it.

A notebook is parameterised when one of its cells carries the `parameters` tag. Each such notebook prints a line
`PARAMS {json}` with the values it runs with; this script runs it with the quick values below plus a fresh
`seed`, and checks (1) that papermill injected them, (2) that the notebook printed them back, and (3), for notebooks
that train, that the results file of the run records them.
"""
import json, random, subprocess, sys, tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# quick settings per notebook (the defaults are the CPU setting; these make the check fast)
QUICK = {'09_demo.ipynb': dict(epochs=1, batch_size=32),
         '02_gmm_gap.ipynb': dict(epochs=3, warmup_epochs=1, seeds=[0], run_ablations=False, ft_epochs=1),
         '05_midas.ipynb': dict(epochs=2, warmup_epochs=1, seeds=[0], ablations=[], run_unimodal=False, eta=0.1)}
SEED_KEY = {'02_gmm_gap.ipynb': 'seeds', '05_midas.ipynb': 'seeds'}  # notebooks whose seed parameter is a list

def parameterised(nb_path):
    nb = json.loads(nb_path.read_text())
    return any('parameters' in c.get('metadata', {}).get('tags', []) for c in nb['cells'])

def printed_params(nb):
    for c in nb['cells']:
        for o in c.get('outputs', []):
            for line in ''.join(o.get('text', '')).splitlines():
                if line.startswith('PARAMS '): return json.loads(line[7:])
    return None

def check(nb_path):
    seed = random.randint(1000, 9999)
    key = SEED_KEY.get(nb_path.name, 'seed')
    values = dict(QUICK.get(nb_path.name, {}), **{key: [seed] if key == 'seeds' else seed})
    with tempfile.TemporaryDirectory() as d:
        values['out_dir'], values['figures_dir'] = str(Path(d) / 'runs'), str(Path(d) / 'figures')
        out = Path(d) / nb_path.name
        cmd = [sys.executable, '-m', 'papermill', str(nb_path), str(out), '--cwd', str(nb_path.parent), '--no-progress-bar']
        for k, v in values.items():  # scalars with -p (papermill types ints, floats and True/False); lists as YAML with -y
            cmd += ['-y', json.dumps({k: v})] if isinstance(v, list) else ['-p', k, str(v)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            print(r.stdout[-3000:], r.stderr[-3000:]); return f'{nb_path.name}: papermill failed'
        nb = json.loads(out.read_text())
        injected = [c for c in nb['cells'] if 'injected-parameters' in c.get('metadata', {}).get('tags', [])]
        if not injected: return f'{nb_path.name}: papermill injected no parameters (is the parameters tag stripped?)'
        got = printed_params(nb)
        if got is None: return f'{nb_path.name}: the notebook printed no PARAMS line'
        for k, v in values.items():
            if got.get(k) != v: return f'{nb_path.name}: -p {k} {v!r} did not reach the notebook (it ran with {got.get(k)!r})'
        results = list((Path(d) / 'runs').rglob('result.json'))
        for res in results:
            cfg = json.loads(res.read_text())['config']['config']
            if cfg.get('train', {}).get('seed', seed) != seed: return f'{res}: the run used seed {cfg["train"].get("seed")}, not {seed}'
        print(f'  {nb_path.name}: {values} reached the notebook' + (f' and its {len(results)} run(s)' if results else ''))
    return None

if __name__ == '__main__':
    nbs = [p for p in sorted((ROOT / 'nbs').glob('*.ipynb')) if parameterised(p)]
    if not nbs: sys.exit('no parameterised notebook found')
    errors = [e for e in map(check, nbs) if e]
    for e in errors: print('FAIL', e)
    sys.exit(1 if errors else 0)
