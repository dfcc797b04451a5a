#!/usr/bin/env python
"""UCF-101 preprocessing benchmark: `mmrepro preprocess ucf101` throughput (clips/s) with optical flow computed from the
video (OpenCV: TV-L1 if opencv-contrib is installed, Farneback otherwise) against flow read from precomputed u/v JPEG
folders (the flows_u/flows_v layout of BalanceBenchmark and MIDAS).

The clips are UCF-shaped fixtures with the real names and formats (`make_ucf101_fixture`: 320x240 MPEG-4 AVI at 25 fps,
`--seconds` long, a moving square on a coloured background, classInd.txt and the three official lists; for the read
case, `seconds * 25 - 1` grey 320x240 JPEGs per clip in each of flows_u/ and flows_v/). The fixture is written before
timing starts; the timed part is the `preprocess` call (K = 3 RGB and 3 flow frames per clip, 224x224, W worker
processes, worker start-up included) into an empty cache folder.

    python benchmarks/bench_ucf101.py --clips 24 --seconds 3 --workers 1
Results: benchmarks/results/ucf101_preprocess_cpu.json
"""
from __future__ import annotations
import argparse, json, os, platform, shutil, tempfile, time
from pathlib import Path
import numpy as np

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--clips', type=int, default=24, help='clips (spread over 3 classes and the groups needed)')
    ap.add_argument('--seconds', type=float, default=3.0, help='clip length in seconds (25 fps)')
    ap.add_argument('--workers', type=int, default=1, help='worker processes')
    ap.add_argument('--out', default=str(Path(__file__).parent/'results'/'ucf101_preprocess_cpu.json'))
    a = ap.parse_args()
    import torch
    from mmrepro.datasets.ucf101 import flow_algorithm
    from mmrepro.testing import make_ucf101_fixture
    from mmrepro.datasets.spec import preprocess
    from mmrepro.core import atomic_write_json, read_json
    per_class = max(1, a.clips // 3)
    groups = tuple(range(1, per_class + 1)) if per_class <= 25 else tuple(range(1, 26))
    clips = max(1, per_class // len(groups))
    res = dict(benchmark='ucf101 preprocess', clips=3 * len(groups) * clips, seconds_per_clip=a.seconds, size=[240, 320], fps=25,
               workers=a.workers, frames=3, frame_size=224, cpu=platform.processor() or platform.machine(), cores=os.cpu_count(),
               torch_threads=torch.get_num_threads(), omp_num_threads=os.environ.get('OMP_NUM_THREADS'), runs={})
    with tempfile.TemporaryDirectory() as d:
        t0 = time.time()
        raw = make_ucf101_fixture(Path(d)/'ucf', groups=groups, clips=clips, size=(240, 320), seconds=a.seconds, fps=25,
                                  flow=True, flow_frames=int(a.seconds * 25) - 1)
        res['fixture_seconds'] = round(time.time() - t0, 1)
        cases = [('flow read (flows_u / flows_v JPEGs)', raw)]
        try:
            algo = flow_algorithm(); raw2 = Path(d)/'ucf_noflow'; shutil.copytree(raw/'UCF-101', raw2/'UCF-101'); shutil.copytree(raw/'ucfTrainTestlist', raw2/'ucfTrainTestlist')
            cases.append((f'flow computed (opencv {algo})', raw2))
        except Exception as e: res['computed_skipped'] = str(e)
        for name, r in cases:
            t0 = time.time()
            folder = preprocess('ucf101', r, Path(d)/f'cache_{len(res["runs"])}', workers=a.workers, progress=False)
            dt = time.time() - t0
            man = read_json(folder/'manifest.json')
            res['runs'][name] = dict(seconds=round(dt, 2), clips_per_s=round(len(man['clips']) / dt, 2), clips=len(man['clips']),
                                     failed=len(man['failed']), flow_algorithm=man['flow_algorithm'])
            print(f"{name}: {len(man['clips'])} clips in {dt:.1f} s = {len(man['clips']) / dt:.2f} clips/s")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(Path(a.out), res)
    print(json.dumps(res, indent=1))

if __name__ == '__main__': main()
