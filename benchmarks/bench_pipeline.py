#!/usr/bin/env python
"""Input-pipeline benchmark: train-step throughput and peak memory of two pipelines feeding the same model.

1. **mmrepro**: the audio front-end (`stft_ogm`) is computed once into a float16 cache (N, 257, 188) and the frames are
   cached as uint8 (N, 1, 3, S, S*4/3) (shorter side S = 256 at full size, as protocol.md §8 recommends). Batches are
   gathered by `BatchLoader` (tensor indexing, no collate), moved to the device, augmented there by `AVTransform` /
   `BatchVisualAugment` (random resized crop + flip + normalise, batched) and trained by `Trainer.train_epoch`
   (no host sync inside the step: logs are summed on the device and read once per epoch).
2. **reference**: OGM-GE's recipe. A `torch.utils.data.DataLoader` over a `Dataset` whose `__getitem__` decodes a
   16 kHz WAV from bytes (soundfile), resamples to 22.05 kHz and computes the STFT (`stft_ogm` on one waveform: the same
   math), decodes a 480x360 JPEG with PIL and applies torchvision's RandomResizedCrop + RandomHorizontalFlip + ToTensor
   + Normalize; default collate; `loss.item()` every step.

Both pipelines train the same model (ResNet-18 audio + visual encoders, concat fusion, 6 classes, 1 frame) from the
same initial weights with the same SGD step (`Method.training_step`, CE on the fused logits) and the same autocast.
The media (N WAV and JPEG byte strings) are synthesised once in memory before anything is timed; the mmrepro cache is
built from the same bytes and its one-off build time is reported separately.

Results go to `<out>/pipeline_{device}_{size}.json` (atomic write) and `benchmarks/RESULTS.md` is regenerated from every
`pipeline_*.json` in `<out>`.

    python benchmarks/bench_pipeline.py --device cpu --size reduced
    python benchmarks/bench_pipeline.py --device cuda --size full
"""
from __future__ import annotations
import argparse, copy, ctypes, datetime, gc, io, math, os, platform, shlex, sys, tempfile, threading, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent)); from _md import replace_section  # noqa: E402

import numpy as np
import soundfile as sf
import torch
from PIL import Image, ImageDraw
from tqdm.auto import tqdm
from torchvision import transforms

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path: sys.path.insert(0, str(ROOT))
from mmrepro.core import atomic_write_json, get_device, read_json, seed_everything, versions  # noqa: E402
from mmrepro.data import MMData, MMTensorDataset, AVTransform  # noqa: E402
from mmrepro.encoders import build_model  # noqa: E402
from mmrepro.frontends import stft_ogm, resize_frames, IMAGENET_MEAN, IMAGENET_STD  # noqa: E402
from mmrepro.train import Trainer, TrainConfig, TrainState, Method, make_optimizer, autocast  # noqa: E402

WAV_SR, WAV_SECONDS, JPEG_W, JPEG_H, NUM_CLASSES, N_FRAMES = 16_000, 2.5, 480, 360, 6, 1
SPEC_SHAPE = (257, 188)
# full = CREMA-D shapes; reduced = the same spectrogram, smaller crops and batches, sized for a 2-core CPU (< 4 min)
SIZES = {'full':    dict(batch_size=64, crop=224, cache_side=256, steps=20, warmup=3),
         'reduced': dict(batch_size=16, crop=112, cache_side=128, steps=6, warmup=2)}
MiB = 2 ** 20


# ----------------------------------------------------------------------------------------------- synthetic media
def make_wav(rng:np.random.Generator) -> bytes:
    "A CREMA-D-like clip: ~2.5 s of 16 kHz, 16-bit PCM speech-ish harmonics with an envelope and noise, as WAV bytes."
    n = int(WAV_SR * WAV_SECONDS * rng.uniform(0.85, 1.15))
    t = np.arange(n) / WAV_SR
    f0 = rng.uniform(90, 280) * (1 + 0.05 * np.sin(2 * np.pi * rng.uniform(2, 6) * t))  # vibrato
    phase = 2 * np.pi * np.cumsum(f0) / WAV_SR
    x = sum(rng.uniform(0.2, 1) / k * np.sin(k * phase + rng.uniform(0, 2 * np.pi)) for k in range(1, 9))
    env = np.clip(np.sin(np.pi * t / t[-1]), 0, None) * (0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(1, 4) * t) ** 2)
    x = 0.25 * env * x + 0.01 * rng.standard_normal(n)
    buf = io.BytesIO()
    sf.write(buf, np.clip(x, -1, 1).astype(np.float32), WAV_SR, format='WAV', subtype='PCM_16')
    return buf.getvalue()

def make_jpeg(rng:np.random.Generator) -> bytes:
    "A 480x360 JPEG with structure: a smooth random background, a few shapes, and fine noise (like a video frame)."
    img = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize((JPEG_W, JPEG_H), Image.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(3, 8))):
        x0, y0 = int(rng.integers(0, JPEG_W - 40)), int(rng.integers(0, JPEG_H - 40))
        box = (x0, y0, x0 + int(rng.integers(30, 200)), y0 + int(rng.integers(30, 200)))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=colour)
    arr = np.asarray(img, dtype=np.int16) + rng.integers(-10, 11, (JPEG_H, JPEG_W, 3), dtype=np.int16)
    buf = io.BytesIO()
    Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(buf, format='JPEG', quality=90)
    return buf.getvalue()

def make_media(n:int, seed:int=0, progress:bool=True):
    "`n` WAV byte strings, `n` JPEG byte strings and `n` labels."
    rng = np.random.default_rng(seed)
    wavs, jpegs = [], []
    for _ in tqdm(range(n), desc='synthesising media', leave=False, disable=not progress):
        wavs.append(make_wav(rng)); jpegs.append(make_jpeg(rng))
    return wavs, jpegs, rng.integers(0, NUM_CLASSES, n).tolist()

def decode_wav(b:bytes) -> tuple[torch.Tensor, int]:
    wave, sr = sf.read(io.BytesIO(b), dtype='float32')
    return torch.from_numpy(wave), sr

def decode_jpeg(b:bytes) -> Image.Image: return Image.open(io.BytesIO(b)).convert('RGB')


# ----------------------------------------------------------------------------------------------- mmrepro cache
def build_cache(wavs, jpegs, labels, side:int, progress:bool=True) -> MMTensorDataset:
    """The one-off cache stage: float16 spectrograms (N, 257, 188) and uint8 frames (N, 1, 3, side, side*W/H).
    Per-sample work in one process with one torch thread, like a reference DataLoader worker (tiny ops on several
    OpenMP threads are slower, badly so when the cores are shared)."""
    n, threads = len(labels), torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        spec = torch.empty(n, *SPEC_SHAPE, dtype=torch.float16)
        frames = None
        for i in tqdm(range(n), desc='building mmrepro cache', leave=False, disable=not progress):
            wave, sr = decode_wav(wavs[i])
            spec[i] = stft_ogm(wave, sr).half()
            f = resize_frames(torch.from_numpy(np.array(decode_jpeg(jpegs[i])))[None], side)  # (1, 3, side, side*4/3)
            if frames is None: frames = torch.empty(n, N_FRAMES, *f.shape[1:], dtype=torch.uint8)
            frames[i] = f
    finally: torch.set_num_threads(threads)
    return MMTensorDataset({'audio': spec, 'visual': frames}, torch.tensor(labels))


# ----------------------------------------------------------------------------------------------- reference dataset
class ReferenceDataset(torch.utils.data.Dataset):
    "OGM-GE's CREMA-D dataset, from bytes: decode + resample + STFT + JPEG decode + torchvision transforms per sample."
    def __init__(self, wavs, jpegs, labels, crop:int, n_frames:int=N_FRAMES):
        self.wavs, self.jpegs, self.labels, self.crop, self.n_frames = wavs, jpegs, labels, crop, n_frames
        self.transform = transforms.Compose([transforms.RandomResizedCrop(crop), transforms.RandomHorizontalFlip(),
                                             transforms.ToTensor(), transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    def __len__(self): return len(self.labels)
    def __getitem__(self, i):
        wave, sr = decode_wav(self.wavs[i])
        spectrogram = stft_ogm(wave, sr)                                  # (257, 188), resampled 16 k -> 22.05 kHz
        images = torch.zeros(self.n_frames, 3, self.crop, self.crop)
        for t in range(self.n_frames): images[t] = self.transform(decode_jpeg(self.jpegs[i]))
        return spectrogram, images.permute(1, 0, 2, 3), self.labels[i]  # (3, T, crop, crop), as OGM-GE


# ----------------------------------------------------------------------------------------------- memory & CPU probes
def _proc_kib(pid, field:str, fname:str='status') -> int | None:
    try:
        with open(f'/proc/{pid}/{fname}') as f:
            for line in f:
                if line.startswith(field + ':'): return int(line.split()[1])
    except OSError: return None
    return None

def _children() -> list[int]:
    pids = []
    try:
        for tid in os.listdir('/proc/self/task'):
            with open(f'/proc/self/task/{tid}/children') as f: pids += [int(p) for p in f.read().split()]
    except OSError: pass
    return pids

def _cpu_seconds(pid) -> float:
    "utime + stime of a process from /proc/<pid>/stat (0 if unreadable)."
    try:
        with open(f'/proc/{pid}/stat') as f: fields = f.read().rsplit(')', 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')
    except (OSError, ValueError, IndexError): return 0.

def _malloc_trim():
    try: ctypes.CDLL('libc.so.6').malloc_trim(0)
    except (OSError, AttributeError): pass

class MemoryProbe:
    """Peak memory of one pipeline. CUDA: `torch.cuda.max_memory_allocated` (reset at start). CPU: growth of the main
    process's peak RSS (VmHWM, reset through /proc/self/clear_refs; a 20 Hz VmRSS sampler as fall-back), and the peak of
    the summed USS (private) and PSS of child processes (DataLoader workers), sampled at 20 Hz."""
    def __init__(self, device:torch.device): self.device = device
    def __enter__(self):
        gc.collect(); _malloc_trim()
        if self.device.type == 'cuda':
            torch.cuda.synchronize(); torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats()
            self.cuda_base = torch.cuda.memory_allocated()
        try:
            with open('/proc/self/clear_refs', 'w') as f: f.write('5')
            self.hwm_reset = True
        except OSError: self.hwm_reset = False
        self.rss_base = _proc_kib('self', 'VmRSS') or 0
        self.rss_peak, self.child_pss_peak, self.child_uss_peak, self.n_children = self.rss_base, 0, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True); self._thread.start()
        return self
    def _sample(self):
        while not self._stop.wait(0.05):
            self.rss_peak = max(self.rss_peak, _proc_kib('self', 'VmRSS') or 0)
            kids = _children()
            self.n_children = max(self.n_children, len(kids))
            pss = uss = 0
            for p in kids:
                pss += _proc_kib(p, 'Pss', 'smaps_rollup') or 0
                uss += (_proc_kib(p, 'Private_Clean', 'smaps_rollup') or 0) + (_proc_kib(p, 'Private_Dirty', 'smaps_rollup') or 0)
            self.child_pss_peak, self.child_uss_peak = max(self.child_pss_peak, pss), max(self.child_uss_peak, uss)
    def __exit__(self, *exc):
        self._stop.set(); self._thread.join()
        hwm = _proc_kib('self', 'VmHWM') if self.hwm_reset else None
        peak = max(self.rss_peak, hwm or 0)
        self.result = dict(main_peak_rss_mib=peak / 1024, main_rss_at_start_mib=self.rss_base / 1024,
                           main_peak_rss_growth_mib=(peak - self.rss_base) / 1024,
                           rss_peak_method='VmHWM after clear_refs, and a 20 Hz VmRSS sampler' if hwm else '20 Hz VmRSS sampler',
                           workers=self.n_children, workers_peak_uss_mib=self.child_uss_peak / 1024,
                           workers_peak_pss_mib=self.child_pss_peak / 1024,
                           workers_note='summed over worker processes, sampled at 20 Hz; USS = private pages (what the '
                                        'workers add), PSS also counts their share of pages shared with the main process')
        if self.device.type == 'cuda':
            self.result.update(cuda_peak_allocated_mib=torch.cuda.max_memory_allocated() / MiB,
                               cuda_allocated_at_start_mib=self.cuda_base / MiB,
                               cuda_peak_reserved_mib=torch.cuda.max_memory_reserved() / MiB)
        return False

def _system_busy_seconds() -> float:
    "CPU seconds spent busy by the whole machine so far (all cores), from /proc/stat; 0 if unreadable."
    try:
        with open('/proc/stat') as f: v = [int(x) for x in f.readline().split()[1:]]
        return (sum(v[:8]) - v[3] - v[4]) / os.sysconf('SC_CLK_TCK')   # minus idle and iowait; guest is inside user
    except (OSError, ValueError, IndexError): return 0.

class CpuMeter:
    "CPU seconds used over a timed region by this process and its children (workers), and by everything else on the machine."
    def start(self):
        self.kids = _children()
        self.t0, self.sys0 = time.process_time() + sum(_cpu_seconds(p) for p in self.kids), _system_busy_seconds()
        self.wall0 = time.perf_counter()
    def stop(self) -> dict:
        wall = max(time.perf_counter() - self.wall0, 1e-9)
        kids = set(self.kids) | set(_children())
        cpu = time.process_time() + sum(_cpu_seconds(p) for p in kids) - self.t0
        other = max(_system_busy_seconds() - self.sys0 - cpu, 0.)
        return dict(cpu_seconds=cpu, cores_busy=cpu / wall, other_processes_cores_busy=other / wall)

def sync(device):
    if device.type == 'cuda': torch.cuda.synchronize(device)


# ----------------------------------------------------------------------------------------------- the two pipelines
def train_config(args, steps:int) -> TrainConfig:
    return TrainConfig(epochs=1, batch_size=args.batch_size, optimizer='sgd', lr=1e-3, momentum=0.9, weight_decay=1e-4,
                       schedule='none', amp=args.amp, device=args.device, seed=args.seed, nan_check_every=10 ** 9,
                       max_steps_per_epoch=steps, progress=not args.no_progress, data_on_device=args.data_on_device)

def run_mmrepro(model, cache:MMTensorDataset, args, device) -> dict:
    "Warm up, then time `args.steps` steps of `Trainer.train_epoch` on the cached data (several epochs if N is small)."
    small = cache.subset(torch.arange(min(len(cache), args.batch_size)))
    data = MMData('bench_cremad_like', train=cache, val=small, test=small, classes=[f'c{i}' for i in range(NUM_CLASSES)],
                  in_shapes=in_shapes(args), transform=AVTransform(args.crop))
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(model, data, Method(), train_config(args, args.warmup), tmp)
        trainer._setup()   # what Trainer.fit does before its epochs (device, loader, optimiser); fit itself also evaluates and checkpoints
        trainer.cfg.epochs = math.ceil(args.warmup / len(trainer.loader)) + math.ceil(args.steps / len(trainer.loader))  # for the bar
        epoch = 0
        def run(n_steps:int):
            nonlocal epoch
            logs = {}
            while n_steps > 0:
                trainer.cfg.max_steps_per_epoch = min(n_steps, len(trainer.loader))
                logs = trainer.train_epoch(epoch)   # one host read at the end of each epoch
                n_steps -= trainer.cfg.max_steps_per_epoch; epoch += 1
            return logs
        run(args.warmup)
        sync(device)
        meter = CpuMeter(); meter.start(); t0 = time.perf_counter()
        logs = run(args.steps)
        sync(device)
        elapsed = time.perf_counter() - t0
        cpu = meter.stop()
        out = dict(seconds=elapsed, epochs_in_timed_region=epoch - math.ceil(args.warmup / len(trainer.loader)),
                   amp=str(trainer.amp_dtype or 'off'), data_on_device=str(trainer.train_ds.device), final_loss=logs.get('loss'), **cpu)
        del trainer
    return out

def run_reference(model, ds:ReferenceDataset, args, device) -> dict:
    "OGM-GE's loop: DataLoader (default collate, persistent workers), `.to(device)`, SGD step, `loss.item()` every step."
    w = args.workers
    loader = torch.utils.data.DataLoader(ds, batch_size=args.batch_size, shuffle=True, num_workers=w, drop_last=True,
                                         persistent_workers=w > 0, pin_memory=device.type == 'cuda',
                                         generator=torch.Generator().manual_seed(args.seed))
    cfg = train_config(args, args.steps)
    amp_dtype = {'off': None, 'bf16': torch.bfloat16, 'auto': torch.bfloat16 if device.type == 'cuda' else None}[args.amp]
    model.to(device).train()
    opt, method, state = make_optimizer([p for p in model.parameters() if p.requires_grad], cfg), Method(), TrainState(device=device)
    def batches():
        while True: yield from loader
    it = batches()
    losses = []
    def step():
        spec, image, label = next(it)
        batch = {'x': {'audio': spec.unsqueeze(1).float().to(device), 'visual': image.float().to(device)}, 'y': label.to(device)}
        with autocast(device, amp_dtype): loss, _ = method.training_step(model, batch, state)
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
        losses.append(loss.item())                                    # host sync every step, as OGM-GE
    for _ in tqdm(range(args.warmup), desc='reference warm-up', leave=False, disable=args.no_progress): step()
    sync(device)
    meter = CpuMeter(); meter.start(); t0 = time.perf_counter()
    for _ in tqdm(range(args.steps), desc='reference', leave=False, disable=args.no_progress): step()
    sync(device)
    elapsed = time.perf_counter() - t0
    out = dict(seconds=elapsed, amp=str(amp_dtype or 'off'), final_loss=float(np.mean(losses[-args.steps:])), **meter.stop())
    it.close(); del it, loader; gc.collect()                          # shuts the persistent workers down
    return out


# ----------------------------------------------------------------------------------------------- results
def in_shapes(args) -> dict: return {'audio': (1, *SPEC_SHAPE), 'visual': (3, N_FRAMES, args.crop, args.crop)}

def device_name(device) -> str:
    if device.type == 'cuda': return torch.cuda.get_device_name(device)
    name = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f: name = next(l.split(':', 1)[1].strip() for l in f if l.startswith('model name'))
    except (OSError, StopIteration): pass
    return f"{name} ({os.cpu_count()} logical CPUs)"

def fmt_mem(r:dict) -> str:
    m = r['memory']
    if 'cuda_peak_allocated_mib' in m: return f"{m['cuda_peak_allocated_mib']:.0f} MiB GPU"
    s = f"+{m['main_peak_rss_growth_mib']:.0f} MiB RSS"
    return s + (f" (+{m['workers_peak_uss_mib']:.0f} MiB private in {m['workers']} workers)" if m.get('workers') else '')

def write_results_md(results_dir:Path, md_path:Path):
    "Regenerate RESULTS.md from every pipeline_*.json in `results_dir`."
    rows, notes = [], []
    for p in sorted(results_dir.glob('pipeline_*.json')):
        r = read_json(p)
        if r.get('benchmark') != 'pipeline': continue
        c, mm, ref = r['config'], r['pipelines']['mmrepro'], r['pipelines']['reference']
        rows.append(f"| `{p.name}` | {r['device_name']} | {c['size']} | {c['batch_size']} | {c['crop']} | {c['steps']} ({c['warmup_steps']}) "
                    f"| {c['workers']} | **{mm['samples_per_s']:.1f}** ({mm['ms_per_step']:.0f} ms) | {ref['samples_per_s']:.1f} ({ref['ms_per_step']:.0f} ms) "
                    f"| **{r['speedup']:.2f}x** | {fmt_mem(mm)} | {fmt_mem(ref)} | {r['cache']['build_seconds']:.1f} s ({r['cache']['ms_per_sample']:.1f} ms/sample) "
                    f"| {r['versions']['torch']} | {r['timestamp'][:16]} |")
        notes.append(f"- `{p.name}`: `{r['command']}`" + ''.join(f"\n  - {c_}" for c_ in r.get('caveats', [])))
    text = ("# Benchmarks\n\n"
            "Generated by `benchmarks/bench_pipeline.py` from the JSON files in `benchmarks/results/`; do not edit by hand.\n\n"
            "## Input pipeline: mmrepro cache + device-side augmentation vs the OGM-GE per-sample DataLoader\n\n"
            "Train-step throughput of the same model (ResNet-18 audio + visual encoders, concat fusion, 6 classes, 1 frame, SGD, "
            "CE on the fused logits), fed by (1) mmrepro: float16 spectrogram cache + uint8 frame cache (shorter side 256 at full size), "
            "`BatchLoader` + `AVTransform` on the device + `Trainer.train_epoch` (no per-step host sync), or (2) the reference: "
            "a DataLoader whose `__getitem__` decodes a 16 kHz WAV, resamples to 22.05 kHz, computes the STFT, decodes a 480x360 JPEG and "
            "applies torchvision's RandomResizedCrop/flip/normalise, with `loss.item()` every step. Media are synthetic and CREMA-D-sized. "
            "samples/s = timed steps x batch / wall time (warm-up excluded). Peak memory: on CUDA `max_memory_allocated` (the mmrepro "
            "cache lives on the GPU and is included); on CPU the growth of the main process's peak RSS during the pipeline, "
            "plus the DataLoader workers' summed private memory (USS; separate processes). The cache build is a one-off cost, paid once per dataset.\n\n"
            "| result | device | size | batch | crop | steps (warm-up) | workers | mmrepro samples/s (ms/step) | reference samples/s (ms/step) "
            "| speed-up | mmrepro peak memory | reference peak memory | cache build | torch | when (UTC) |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n" + "\n".join(rows) +
            "\n\n### Commands and caveats\n\n" + "\n".join(notes) + "\n")
    replace_section(md_path, None, text)   # the head; the other scripts' sections are kept


# ----------------------------------------------------------------------------------------------- main
def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--device', choices=['cpu', 'cuda', 'auto'], default='auto')
    ap.add_argument('--size', choices=list(SIZES), default='reduced',
                    help="full: CREMA-D shapes (spectrogram 257x188, crop 224, batch 64); reduced: crop 112, batch 16, fewer steps")
    ap.add_argument('--steps', type=int, default=None, help='timed steps per pipeline (default: 20 full, 6 reduced)')
    ap.add_argument('--warmup-steps', type=int, default=None, help='untimed warm-up steps per pipeline (default: 3 full, 2 reduced)')
    ap.add_argument('--n-samples', type=int, default=None, help='synthetic clips (default: batch x (warm-up + steps))')
    ap.add_argument('--workers', type=int, default=min(4, os.cpu_count() or 1), help='reference DataLoader workers')
    ap.add_argument('--amp', choices=['auto', 'off', 'bf16'], default='auto', help='autocast for BOTH pipelines (auto: bf16 on CUDA, off on CPU)')
    ap.add_argument('--data-on-device', choices=['auto', 'yes', 'no'], default='auto', help="mmrepro cache on the GPU (auto: yes on CUDA)")
    ap.add_argument('--threads', type=int, default=None, help='torch threads in the main process (default: torch\'s choice)')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--out', default=str(ROOT / 'benchmarks' / 'results'))
    ap.add_argument('--results-md', default=None, help='markdown summary to regenerate (default: <out>/../RESULTS.md)')
    ap.add_argument('--note', action='append', default=[], help='a caveat to record in the results file (repeatable)')
    ap.add_argument('--no-progress', action='store_true')
    args = ap.parse_args(argv)
    sz = SIZES[args.size]
    args.batch_size, args.crop, args.cache_side = sz['batch_size'], sz['crop'], sz['cache_side']
    args.steps = sz['steps'] if args.steps is None else args.steps
    args.warmup = sz['warmup'] if args.warmup_steps is None else args.warmup_steps
    if args.steps < 1 or args.warmup < 0 or args.workers < 0: ap.error('--steps must be >= 1, --warmup-steps and --workers >= 0')
    args.n_samples = args.batch_size * (args.warmup + args.steps) if args.n_samples is None else args.n_samples
    if args.n_samples < args.batch_size: ap.error(f'--n-samples must be at least one batch ({args.batch_size})')
    return args

def main(argv=None):
    args = parse_args(argv)
    device = get_device(args.device)
    args.device = str(device)
    if args.threads: torch.set_num_threads(args.threads)
    t_start, load_start = time.perf_counter(), os.getloadavg()
    print(f"device {device} ({device_name(device)}), size {args.size}: batch {args.batch_size}, crop {args.crop}, "
          f"{args.warmup}+{args.steps} steps, {args.n_samples} clips, {args.workers} workers, torch {torch.__version__}", flush=True)

    t0 = time.perf_counter()
    wavs, jpegs, labels = make_media(args.n_samples, args.seed, not args.no_progress)
    media_s = time.perf_counter() - t0
    media = dict(n=args.n_samples, seconds_to_synthesise=media_s, wav_mean_kib=np.mean([len(b) for b in wavs]) / 1024,
                 jpeg_mean_kib=np.mean([len(b) for b in jpegs]) / 1024, wav=f'{WAV_SR} Hz 16-bit mono, {WAV_SECONDS} s +-15%',
                 jpeg=f'{JPEG_W}x{JPEG_H} quality 90')

    t0 = time.perf_counter()
    cache = build_cache(wavs, jpegs, labels, args.cache_side, not args.no_progress)
    build_s = time.perf_counter() - t0
    ref_ds = ReferenceDataset(wavs, jpegs, labels, args.crop)
    spec_diff = (cache.x['audio'][0].float() - ref_ds[0][0]).abs().max().item()   # same features in both pipelines
    cache_info = dict(build_seconds=build_s, ms_per_sample=1000 * build_s / args.n_samples,
                      audio=dict(shape=list(cache.x['audio'].shape), dtype='float16'),
                      visual=dict(shape=list(cache.x['visual'].shape), dtype='uint8'),
                      mib=sum(v.numel() * v.element_size() for v in cache.x.values()) / MiB,
                      max_abs_diff_vs_reference_spectrogram=spec_diff)
    print(f"media {media_s:.1f} s; cache build {build_s:.1f} s ({cache_info['mib']:.0f} MiB, "
          f"visual {tuple(cache.x['visual'].shape[1:])}); spectrogram fp16 cache vs reference max |diff| {spec_diff:.2e}", flush=True)

    seed_everything(args.seed)
    base = build_model(in_shapes(args), NUM_CLASSES, encoder='resnet18', fusion='concat', unimodal_heads=False)
    n_params = sum(p.numel() for p in base.parameters())
    results = {}
    for name in ['mmrepro', 'reference']:
        model = copy.deepcopy(base)                                   # same initial weights for both pipelines
        seed_everything(args.seed)
        with MemoryProbe(device) as probe:
            r = run_mmrepro(model, cache, args, device) if name == 'mmrepro' else run_reference(model, ref_ds, args, device)
        del model; gc.collect()
        r.update(samples_per_s=args.steps * args.batch_size / r['seconds'], ms_per_step=1000 * r['seconds'] / args.steps,
                 memory=probe.result)
        results[name] = r
        print(f"{name:>9}: {r['samples_per_s']:.1f} samples/s, {r['ms_per_step']:.0f} ms/step, peak memory {fmt_mem(r)}, "
              f"{r['cores_busy']:.2f} cores busy (other processes: {r['other_processes_cores_busy']:.2f})", flush=True)

    speedup = results['mmrepro']['samples_per_s'] / results['reference']['samples_per_s']
    ncpu, load_end = os.cpu_count() or 1, os.getloadavg()
    caveats = list(args.note)
    if device.type == 'cpu':
        caveats.append(f"CPU run: the reference's {args.workers} DataLoader worker process(es) share the {ncpu} cores with the "
                       "model's compute, and their memory is not in the main process's RSS (reported separately: summed USS and PSS).")
    busy = {k: r['other_processes_cores_busy'] for k, r in results.items()}
    if max(busy.values()) > 0.25:
        caveats.append("other processes kept " + ", ".join(f"{v:.2f} cores busy during the {k} timing" for k, v in busy.items()) +
                       f" (of {ncpu}; /proc/stat minus this run's own CPU time): timings are noisy")
    if device.type == 'cuda' and results['mmrepro']['data_on_device'].startswith('cuda'):
        caveats.append(f"the mmrepro cache ({cache_info['mib']:.0f} MiB) is on the GPU and counts in its peak memory")
    out = dict(benchmark='pipeline',
               command='python benchmarks/bench_pipeline.py ' + shlex.join(sys.argv[1:] if argv is None else argv),
               timestamp=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
               config=dict(device=args.device, size=args.size, batch_size=args.batch_size, crop=args.crop, cache_side=args.cache_side,
                           steps=args.steps, warmup_steps=args.warmup, n_samples=args.n_samples, workers=args.workers,
                           amp=args.amp, data_on_device=args.data_on_device, threads=args.threads, seed=args.seed, n_frames=N_FRAMES,
                           num_classes=NUM_CLASSES, spectrogram=list(SPEC_SHAPE),
                           model=dict(encoder='resnet18', fusion='concat', unimodal_heads=False, parameters=n_params),
                           optimiser='SGD lr 1e-3 momentum 0.9 weight decay 1e-4', loss='CE on the fused logits (Method.training_step)'),
               versions=versions(), device_name=device_name(device), cpu_count=ncpu, torch_threads=torch.get_num_threads(),
               load_average=dict(start=list(load_start), end=list(load_end)),
               media=media, cache=cache_info, pipelines=results, speedup=speedup,
               total_seconds=time.perf_counter() - t_start, caveats=caveats)
    out_dir = Path(args.out)
    path = out_dir / f"pipeline_{device.type}_{args.size}.json"
    atomic_write_json(path, out)
    os.chmod(path, 0o644)                                             # mkstemp makes it 0600
    md = Path(args.results_md) if args.results_md else out_dir.parent / 'RESULTS.md'
    write_results_md(out_dir, md)
    print(f"speed-up {speedup:.2f}x; wrote {path} and {md} (total {out['total_seconds']:.0f} s)")
    return out

if __name__ == '__main__': main()
