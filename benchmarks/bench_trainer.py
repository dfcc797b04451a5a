"""The training loop's speed options on the CPU: background checkpoints, the fp16 skip rule, channels-last inputs.

Checkpoint: the ResNet-18 audio + visual pair at CREMA-D's shapes with SGD momentum (the `last.pt` of a real run,
model + optimiser state); `Trainer._checkpoint` alone is timed, written with fsync into --dir. An "epoch" is a fixed
CPU load of about --epoch-seconds (matrix products in the training thread, calibrated first), so that the cost of a
checkpoint is what it adds to an epoch's wall time: synchronous (`async_checkpoint=False`: the write follows the
epoch) against background (`async_checkpoint=True`: the snapshot is taken, the write overlaps the next epoch, and
the next checkpoint waits for it). Both are timed in interleaved rounds; medians are reported.

fp16: a tiny MLP pair trained with `amp='fp16'` on the CPU, once with the grad scaler's usual initial scale (2^16)
and once with a forced overflow (initial scale --init-scale): the count of skipped steps per epoch, and whether the
run went on.

Channels-last: the ResNet-18 pair at CREMA-D's shapes (one --crop frame, batch --batch-size), `Trainer.train_epoch`
ms per step with contiguous weights and inputs, channels-last weights only (the inputs left contiguous, as before
this option converted them), and channels-last weights and inputs; interleaved rounds, median.

Results go to `benchmarks/results/trainer_cpu.json`, and the section of `benchmarks/RESULTS.md` after the marker
`<!-- bench_trainer -->` is regenerated from it; the rest of RESULTS.md is kept.
"""
import argparse, datetime, os, platform, statistics, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent)); from _md import replace_section  # noqa: E402
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import mmrepro.train as T
from mmrepro.core import atomic_write_json
from mmrepro.data import MMTensorDataset, MMData, AVTransform
from mmrepro.encoders import build_model
from mmrepro.train import Trainer, TrainConfig, Method

MARKER = '<!-- bench_trainer -->'
SHAPES = {'audio': (1, 257, 188), 'visual': (3, 1, 64, 64)}

def cremad_data(n:int, crop:int) -> MMData:
    "Random tensors of CREMA-D's cached shapes (a 257x188 spectrogram, one uint8 frame a little larger than `crop`)."
    g = torch.Generator().manual_seed(0)
    x = {'audio': torch.randn(n, 257, 188, generator=g).half(),
         'visual': torch.randint(0, 256, (n, 1, 3, crop + 32, crop + 32), generator=g, dtype=torch.uint8)}
    ds = MMTensorDataset(x, torch.randint(0, 6, (n,), generator=g))
    return MMData('cremad_shapes', train=ds, val=ds.subset(torch.arange(2)), test=ds.subset(torch.arange(2)),
                  classes=[str(i) for i in range(6)], in_shapes=dict(SHAPES, visual=(3, 1, crop, crop)), transform=AVTransform(crop))

def state_nbytes(obj) -> int:
    "Bytes of the tensors in a nested state."
    if torch.is_tensor(obj): return obj.numel() * obj.element_size()
    if isinstance(obj, dict): return sum(state_nbytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)): return sum(state_nbytes(v) for v in obj)
    return 0

def calibrate(seconds:float) -> tuple:
    "A CPU load of about `seconds` (matrix products in this thread): (function, its measured seconds)."
    a = torch.randn(384, 384)
    def work(k):
        for _ in range(k): a @ a
    t0 = time.perf_counter(); work(20); per = (time.perf_counter() - t0) / 20
    k = max(1, round(seconds / per))
    times = []
    for _ in range(3): t0 = time.perf_counter(); work(k); times.append(time.perf_counter() - t0)
    return (lambda: work(k)), statistics.median(times)

def checkpoint(args) -> dict:
    "Wall-time cost per epoch of writing last.pt synchronously and in the background, for the ResNet-18 pair with SGD momentum."
    data, out, trainers = cremad_data(4, 64), {}, {}
    root = tempfile.TemporaryDirectory(dir=args.dir)
    for mode in ('sync', 'background'):
        torch.manual_seed(0)
        model = build_model(data.in_shapes, 6, encoder='resnet18')
        d = tempfile.mkdtemp(dir=root.name)
        t = Trainer(model, data, Method(), TrainConfig(epochs=100, batch_size=2, device='cpu', progress=False,
                                                        async_checkpoint=mode == 'background'), d)
        t._setup()
        for p in t.model.parameters(): p.grad = torch.zeros_like(p)
        t.opt.step()                                   # the momentum buffers a real last.pt holds
        row = dict(epoch=1, lr=0.001, train=dict(loss=1.0), val=dict(acc=50.0), test=dict(acc=50.0), method={}, seconds=2.0)
        t.history, t.best, t.timing = [row], dict(epoch=1, val_acc=50.0), []
        trainers[mode] = t
    sd = dict(model=trainers['sync'].model.state_dict(), opt=trainers['sync'].opt.state_dict())
    out['state_mib'] = state_nbytes(sd) / 2**20
    epoch, epoch_s = calibrate(args.epoch_seconds)
    out['epoch_seconds_calibrated'] = epoch_s
    times = {k: [] for k in ('epoch alone', 'sync', 'background', 'sync blocking', 'background blocking', 'snapshot')}
    buf, cpu = None, {'alone': [], 'background': []}   # the snapshot buffer, kept as the trainer keeps its own; training-thread CPU s
    for r in range(args.ckpt_rounds + 1):             # round 0 warms up and is not counted
        c0 = time.thread_time(); t0 = time.perf_counter(); epoch(); alone = time.perf_counter() - t0; cpu_alone = time.thread_time() - c0
        t = trainers['sync']
        t0 = time.perf_counter(); epoch(); t1 = time.perf_counter(); t._checkpoint(r); sync = time.perf_counter() - t0; sync_block = time.perf_counter() - t1
        t = trainers['background']
        t0 = time.perf_counter(); t._checkpoint(r); t1 = time.perf_counter(); c1 = time.thread_time(); epoch(); cpu_bg = time.thread_time() - c1
        t2 = time.perf_counter(); t._join_writer(); t3 = time.perf_counter()
        bg, bg_block = t3 - t0, (t1 - t0) + (t3 - t2)
        cpu['alone'].append(cpu_alone); cpu['background'].append(cpu_bg)
        t0 = time.perf_counter(); buf = T.host_copy(dict(model=t.model.state_dict(), opt=t.opt.state_dict()), into=buf); snap = time.perf_counter() - t0
        if r:
            for k, v in zip(times, (alone, sync, bg, sync_block, bg_block, snap)): times[k].append(v)
        print(f'round {r}: epoch alone {alone:.3f} s, with sync checkpoint {sync:.3f} s (write {sync_block:.3f} s), '
              f'with background checkpoint {bg:.3f} s (blocking {bg_block:.3f} s; snapshot {snap:.3f} s)', flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    base = med['epoch alone']
    for k in ('sync', 'background'):
        extra = [w - a for w, a in zip(times[k], times['epoch alone'])]   # per round, against the epoch alone of the same round
        out[k] = dict(blocking_ms=1e3 * med[f'{k} blocking'], blocking_pct=100 * med[f'{k} blocking'] / base,
                      wall_extra_ms=1e3 * statistics.median(extra), wall_extra_pct=100 * statistics.median(extra) / base,
                      epoch_s_all=times[k], blocking_s_all=times[f'{k} blocking'])
    out['epoch_thread_cpu_s'] = dict(alone=statistics.median(cpu['alone'][1:]), with_background_write=statistics.median(cpu['background'][1:]))
    out['epoch_alone_s'], out['epoch_alone_s_all'] = base, times['epoch alone']
    out['snapshot_ms'] = 1e3 * med['snapshot']
    out['last_pt_mib'] = os.path.getsize(trainers['sync'].out/'last.pt') / 2**20
    root.cleanup()
    return out

def _tiny_data(n:int, seed:int=0) -> MMData:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    a = F.one_hot(y, 3).float() * 2 + torch.randn(n, 3, generator=g)
    b = F.one_hot(y, 3).float() * 0.5 + torch.randn(n, 3, generator=g)
    ds = MMTensorDataset({'a': a, 'b': b}, y)
    k = n * 2 // 3
    return MMData('tiny', ds.subset(range(k)), ds.subset(range(k, k + n // 6)), ds.subset(range(k + n // 6, n)), ['0', '1', '2'], {'a': (3,), 'b': (3,)})

def fp16(args) -> dict:
    "Skipped steps per epoch of an fp16 run on the CPU, with the usual initial scale and with a forced overflow."
    out = {}
    for name, scale in (('usual scale 2^16', 2.0 ** 16), (f'forced overflow 2^{args.init_scale}', 2.0 ** args.init_scale)):
        torch.manual_seed(0)
        model = build_model({'a': (3,), 'b': (3,)}, 3, encoder='mlp', encoder_opts=dict(hidden=16, out_dim=8))
        with tempfile.TemporaryDirectory() as d:
            t = Trainer(model, _tiny_data(args.fp16_samples), Method(), TrainConfig(epochs=args.fp16_epochs, batch_size=16, lr=0.1, amp='fp16',
                                                                                   schedule='none', device='cpu', progress=False), d)
            t._setup(); t.scaler = torch.amp.GradScaler('cpu', init_scale=scale)
            logs = [t.train_epoch(e) for e in range(args.fp16_epochs)]
            acc = t.evaluate(t.test_ds)['acc']
        out[name] = dict(init_scale=scale, steps_per_epoch=len(t.loader), skipped_steps=[l['skipped_steps'] for l in logs],
                         loss=[l['loss'] for l in logs], final_scale=t.scaler.get_scale(), test_acc=acc)
        print(f"fp16 {name}: skipped {out[name]['skipped_steps']} of {len(t.loader)} steps per epoch, final scale {t.scaler.get_scale():.0f}, "
              f"loss {[round(x, 3) for x in out[name]['loss']]}, test acc {acc:.1f}", flush=True)
    return out

SETTINGS = {'contiguous': dict(channels_last=False), 'channels_last weights only': dict(channels_last=True, inputs=False),
            'channels_last weights + inputs': dict(channels_last=True, inputs=True)}

def channels_last(args) -> dict:
    "Median ms per training step with contiguous, channels-last-weights-only and channels-last weights and inputs."
    data = cremad_data(args.batch_size * args.steps, args.crop)
    trainers = {}
    for name, s in SETTINGS.items():
        torch.manual_seed(0)
        model = build_model(data.in_shapes, 6, encoder='resnet18')
        cfg = TrainConfig(epochs=1, batch_size=args.batch_size, schedule='none', device='cpu', progress=False, channels_last=s['channels_last'])
        t = Trainer(model, data, Method(), cfg, Path(args.dir)/'bench_trainer_unused'); t._setup(); trainers[name] = t   # train_epoch writes nothing
    times, real = {k: [] for k in SETTINGS}, T.channels_last_inputs
    try:
        for r in range(args.rounds + 1):
            for name, t in trainers.items():
                T.channels_last_inputs = real if SETTINGS[name].get('inputs', True) else (lambda x: x)
                t0 = time.perf_counter(); t.train_epoch(r); dt = (time.perf_counter() - t0) / args.steps
                if r: times[name].append(dt)
                print(f'round {r} {name}: {dt * 1e3:.0f} ms/step', flush=True)
    finally: T.channels_last_inputs = real
    base = statistics.median(times['contiguous'])
    return {k: dict(ms_per_step=1e3 * statistics.median(v), ms_all=[1e3 * x for x in v], speedup=base / statistics.median(v)) for k, v in times.items()}

def write_md(res:dict, md:Path):
    "Regenerate the RESULTS.md section of MARKER (the other sections are kept)."
    a, c = res['args'], res['checkpoint']
    lines = [MARKER, '## Training loop: background checkpoints, fp16 skips, channels-last inputs (CPU)', '',
             f"Generated by `benchmarks/bench_trainer.py` (`{res['command']}`, {res['timestamp'][:16]} UTC, torch {res['torch']}, "
             f"{res['machine']}). Other processes shared the cores: load average {res['loadavg_before']:.2f} before, {res['loadavg_after']:.2f} after.", '',
             f"**Checkpoint cost per epoch.** `last.pt` of the ResNet-18 pair (CREMA-D shapes) with SGD momentum: {c['state_mib']:.0f} MiB of state, "
             f"{c['last_pt_mib']:.0f} MiB on disk, written with fsync (then `result.json`) to `{a['dir']}` by `Trainer._checkpoint`. Epoch: a calibrated "
             f"CPU load of {c['epoch_alone_s']:.2f} s (median) in the training thread. *Blocking*: the time the training thread waits for the "
             f"checkpoint (synchronous: the whole write; background: the copy into the kept snapshot buffer, {c['snapshot_ms']:.0f} ms, plus any wait "
             f"for the previous write at the next checkpoint). *Wall extra*: the epoch's wall time with the checkpoint minus the epoch alone in the "
             f"same round, which also counts the writer thread's competition for the shared cores (noisy at this load). Medians of {a['ckpt_rounds']} rounds.", '',
             '| checkpoint | blocking (ms) | blocking, % of the epoch | wall extra (ms) | wall extra, % of the epoch |', '|---|---|---|---|---|']
    for k in ('sync', 'background'):
        lines.append(f"| {k} | {c[k]['blocking_ms']:.0f} | **{c[k]['blocking_pct']:.1f}%** | {c[k]['wall_extra_ms']:.0f} | {c[k]['wall_extra_pct']:.1f}% |")
    lines += ['', f"The training thread's own CPU time for the epoch: {c['epoch_thread_cpu_s']['alone']:.2f} s alone, "
              f"{c['epoch_thread_cpu_s']['with_background_write']:.2f} s while the background write runs (medians); where the two are equal, "
              "the background write's wall extra is time the training thread spent waiting for one of the shared cores, not work added to it."]
    lines += ['', f"**fp16 skip rule.** Tiny MLP pair, `amp='fp16'` on the CPU, {a['fp16_epochs']} epochs, batch 16; skipped steps per epoch (the run goes on):", '',
              '| grad scaler initial scale | steps per epoch | skipped steps per epoch | final scale | test acc |', '|---|---|---|---|---|']
    for k, v in res['fp16'].items():
        lines.append(f"| {k} | {v['steps_per_epoch']} | {v['skipped_steps']} | {v['final_scale']:.0f} | {v['test_acc']:.1f} |")
    lines += ['', f"**Channels-last inputs.** ResNet-18 pair, CREMA-D spectrogram 257x188 and one {a['crop']}x{a['crop']} frame, batch {a['batch_size']}, "
              f"`Trainer.train_epoch` of {a['steps']} steps, median of {a['rounds']} interleaved rounds:", '',
              '| setting | ms per step | speed-up vs contiguous |', '|---|---|---|']
    for k, v in res['channels_last'].items():
        lines.append(f"| {k} | {v['ms_per_step']:.0f} | **{v['speedup']:.2f}x** |")
    replace_section(md, MARKER, '\n'.join(lines) + '\n')

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--epoch-seconds', type=float, default=2.0); ap.add_argument('--ckpt-rounds', type=int, default=6)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--init-scale', type=int, default=40); ap.add_argument('--fp16-samples', type=int, default=1200)
    ap.add_argument('--fp16-epochs', type=int, default=3)
    ap.add_argument('--batch-size', type=int, default=8); ap.add_argument('--crop', type=int, default=64)
    ap.add_argument('--steps', type=int, default=2)
    ap.add_argument('--dir', default=tempfile.gettempdir(), help='where the checkpoints are written')
    ap.add_argument('--out', default=str(ROOT/'benchmarks'/'results'/'trainer_cpu.json'))
    ap.add_argument('--results-md', default=str(ROOT/'benchmarks'/'RESULTS.md'))
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS', os.cpu_count() or 1)))
    la0 = os.getloadavg()[0]
    res = dict(command=' '.join(['python benchmarks/bench_trainer.py', *sys.argv[1:]]), args=vars(args),
               timestamp=datetime.datetime.now(datetime.timezone.utc).isoformat(), torch=torch.__version__,
               machine=f'{platform.processor() or platform.machine()} ({os.cpu_count()} logical CPUs, {torch.get_num_threads()} torch threads)',
               loadavg_before=la0, checkpoint=checkpoint(args), fp16=fp16(args), channels_last=channels_last(args), loadavg_after=os.getloadavg()[0])
    atomic_write_json(Path(args.out), res)
    write_md(res, Path(args.results_md))
    print(f'wrote {args.out} and the {MARKER} section of {args.results_md}')
