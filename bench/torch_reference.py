#!/usr/bin/python3
"""PyTorch reference of the kit's default training step (bench/bench.ts runs it in the same run).

    /usr/bin/python3 bench/torch_reference.py --config <file written by bench.ts>

Re-implements the kit's `pir-small` PIR model (src/models/{small_cnn,small_text,pir_blocks,
spatial_pae,temporal_pae,pir}.ts) in PyTorch with every size read from the config file, the same
parameter keys and shapes (checked against the kit's list: the script fails on any difference),
the same stage-2 trainable set, the same loss (PIR multi-positive contrastive + affiliation,
src/losses/*.ts) and AdamW (torch.optim.AdamW with the kit's no-decay split), the same batch, the
same number of threads, train mode with dropout as the kit. Times forward + backward + step per
iteration after warm-up (plus the loss and gradient-norm downloads the kit's trainer does) and
prints one JSON line on stdout.
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Linear(nn.Linear):
    """nn.Linear; the kit initialises U(-1/sqrt(in), 1/sqrt(in)) for weight and bias (same scale)."""


class MHAtt(nn.Module):
    def __init__(self, d, heads, p):
        super().__init__()
        self.linear_v = Linear(d, d)
        self.linear_k = Linear(d, d)
        self.linear_q = Linear(d, d)
        self.linear_merge = Linear(d, d)
        self.heads = heads
        self.drop = nn.Dropout(p)

    def forward(self, v, k, q):
        B, Lq, D = q.shape
        Lk = k.shape[1]
        dh = D // self.heads
        qh = self.linear_q(q).view(B, Lq, self.heads, dh).transpose(1, 2)  # [B, H, Lq, dh]
        kh = self.linear_k(k).view(B, Lk, self.heads, dh).transpose(1, 2)
        vh = self.linear_v(v).view(B, Lk, self.heads, dh).transpose(1, 2)
        scores = torch.matmul(qh, kh.transpose(-2, -1)) / math.sqrt(dh)  # [B, H, Lq, Lk]
        att = self.drop(F.softmax(scores, dim=-1))
        out = torch.matmul(att, vh).transpose(1, 2).reshape(B, Lq, D)
        return self.linear_merge(out)


def ffn(d, ratio):
    # PIR build_mlp: Linear -> LayerNorm -> GELU -> Linear (keys ffn.0, ffn.1, ffn.3)
    return nn.Sequential(Linear(d, ratio * d), nn.LayerNorm(ratio * d), nn.GELU(), Linear(ratio * d, d))


class MHSA(nn.Module):
    def __init__(self, d, heads, p, ratio):
        super().__init__()
        self.mhatt = MHAtt(d, heads, p)
        self.ffn = ffn(d, ratio)
        self.norm1 = nn.LayerNorm(d)
        self.norm2 = nn.LayerNorm(d)
        self.d1 = nn.Dropout(p)
        self.d2 = nn.Dropout(p)

    def forward(self, x):
        h = self.norm1(x + self.d1(self.mhatt(x, x, x)))
        return self.norm2(h + self.d2(self.ffn(h)))


class CroSA(nn.Module):
    def __init__(self, d, heads, p, ratio):
        super().__init__()
        self.mhatt_cross = MHAtt(d, heads, p)
        self.ffn = ffn(d, ratio)
        self.norm1 = nn.LayerNorm(d)
        self.norm2 = nn.LayerNorm(d)
        self.d1 = nn.Dropout(p)
        self.d2 = nn.Dropout(p)

    def forward(self, x, y):
        h = self.norm1(y + self.d1(self.mhatt_cross(y, y, x)))
        return self.norm2(h + self.d2(self.ffn(h)))


def build_cnn(cin, channels, extra, downsample):
    """avgpool-conv | conv-avgpool | strided-conv stages (+ extra stride-1 convs) -> (convs, plan, out_channels)."""
    convs, plan = [], []
    for cout in channels:
        for j in range(extra + 1):
            first = j == 0
            stride = 2 if (first and downsample == 'strided-conv') else 1
            convs.append(nn.Conv2d(cin, cout, 3, stride=stride, padding=1))
            plan.append((first and downsample == 'avgpool-conv', first and downsample == 'conv-avgpool'))
            cin = cout
    return nn.ModuleList(convs), plan, cin


def run_cnn(convs, plan, x):  # NCHW
    for conv, (before, after) in zip(convs, plan):
        if before:
            x = F.avg_pool2d(x, 2)
        x = F.relu(conv(x))
        if after:
            x = F.avg_pool2d(x, 2)
    return x


class TokenEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.convs, self.plan, self.out_channels = build_cnn(3, c['channels'], c['extraConvsPerStage'], c['downsample'])
        self.norm = nn.LayerNorm(self.out_channels)

    def forward(self, img):
        f = run_cnn(self.convs, self.plan, img)  # [B, C, h, w]
        tok = self.norm(f.flatten(2).transpose(1, 2))  # [B, hw, C]
        return torch.cat([tok.mean(1, keepdim=True), tok], 1)  # [B, 1+hw, C]


class PooledEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.convs, self.plan, self.out_channels = build_cnn(3, c['channels'], c['extraConvsPerStage'], c['downsample'])
        self.fc = Linear(self.out_channels, c['numClasses'])

    def forward(self, img):
        return run_cnn(self.convs, self.plan, img).mean((2, 3))  # [B, C]


class TextEncoder(nn.Module):
    def __init__(self, t):
        super().__init__()
        self.word_embeddings = nn.Embedding(t['vocabSize'], t['width'])
        self.position_embeddings = nn.Embedding(t['contextLength'], t['width'])
        self.embed_norm = nn.LayerNorm(t['width'])
        self.drop = nn.Dropout(t['dropout'])
        self.layers = nn.ModuleList([MHSA(t['width'], t['heads'], t['dropout'], t['mlpRatio']) for _ in range(t['layers'])])

    def forward(self, ids):
        L = ids.shape[1]
        x = self.drop(self.embed_norm(self.word_embeddings(ids) + self.position_embeddings.weight[:L]))
        for layer in self.layers:
            x = layer(x)
        return x


class PirSmall(nn.Module):
    """Registration order and keys follow src/models/pir.ts."""

    def __init__(self, c):
        super().__init__()
        D, h, p, r = c['embedDim'], c['heads'], c['dropout'], c['mlpRatio']
        self.vision_encoder = TokenEncoder(c['image'])
        self.text_encoder = TextEncoder(c['text'])
        self.vision_proj = Linear(self.vision_encoder.out_channels, D)
        self.text_proj = Linear(c['text']['width'], D)
        self.has_prior = c['prior']['enabled']
        if self.has_prior:
            self.conv_encoder = PooledEncoder(c['prior'])
            if c['spatialPae']['enabled']:
                self.conv_proj = Linear(self.conv_encoder.out_channels, D)
        sp, tp = c['spatialPae'], c['temporalPae']
        self.sp, self.tp = sp, tp
        if sp['enabled']:
            self.mapping_img = nn.ModuleList([Linear(D, D) for _ in range(sp['numRounds'])])
            self.img_sa = nn.ModuleList([MHSA(D, h, p, r) for _ in range(sp['numRounds'])])
            self.img_ca = nn.ModuleList([CroSA(D, h, p, r) for _ in range(sp['numRounds'])])
            self.head_img = Linear(D, D)
        if tp['enabled']:
            self.mapping_txt = nn.ModuleList([Linear(D, D) for _ in range(tp['numRounds'])])
            self.txt_sa = nn.ModuleList([MHSA(D, h, p, r) for _ in range(tp['numRounds'])])
            self.txt_ca = nn.ModuleList([CroSA(D, h, p, r) for _ in range(tp['numRounds'])])
            self.head_txt = Linear(D, D)
        self.temp = nn.Parameter(torch.tensor(float(c['temp'])))
        self.temp2 = nn.Parameter(torch.tensor(float(c['temp2'])))

    def encode_image(self, img):
        V = self.vision_proj(self.vision_encoder(img))  # [B, N, D]
        B, N, D = V.shape
        g = V[:, 0]
        if not self.sp['enabled']:
            return F.normalize(g, dim=-1)
        prior = self.conv_proj(self.conv_encoder(img))[:, None] if self.has_prior else V[:, :1]  # [B, 1, D]
        if self.sp['belief'] != 'hard':
            raise SystemExit('torch_reference.py: only the hard belief (the default) is implemented')
        belief = F.softmax(torch.matmul(V, prior.transpose(1, 2)).squeeze(-1), dim=-1)  # [B, N]
        idx = torch.sort(belief, dim=-1, descending=True).indices[:, :min(self.sp['filterSize'], N)]  # [B, K]
        S = torch.gather(V, 1, idx[..., None].expand(-1, -1, D))  # [B, K, D]
        C = prior.expand(B, S.shape[1], D)
        for i in range(self.sp['numRounds']):
            A = self.img_sa[i](S)
            S = self.img_ca[i](self.mapping_img[i](C), A)
        return F.normalize(g + self.head_img(S[:, 0]), dim=-1)

    def encode_text(self, ids):
        T = self.text_proj(self.text_encoder(ids))  # [B, L, D]
        if not self.tp['enabled']:
            return F.normalize(T[:, 0], dim=-1)
        X = T
        for i in range(self.tp['numRounds']):
            A = self.txt_sa[i](X)
            X = self.txt_ca[i](self.mapping_txt[i](X), A)
        return F.normalize(T[:, 0] + self.head_txt(X[:, 0]), dim=-1)


def soft_ce(logits, targets):
    return -(targets * F.log_softmax(logits, 1)).sum(1).mean()


def same_id(ids):
    return (ids[:, None] == ids[None, :]).float()


def pir_contrastive(img, txt, temp, ids):
    logits = img @ txt.t() / temp
    m = same_id(ids)
    P = m / m.sum(1, keepdim=True)
    return 0.5 * (soft_ce(logits, P) + soft_ce(logits.t(), P))


def pir_affiliation(img, txt, temp2, labels):
    m = same_id(labels)
    W = m / m.sum(1, keepdim=True)
    ic, tc = W @ img, W @ txt
    eye = torch.eye(img.shape[0])
    a = img @ tc.t() / temp2
    bm = txt @ ic.t() / temp2
    return 0.5 * (soft_ce(a, eye) + soft_ce(bm.t(), eye))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--config', required=True)
    ap.add_argument('--threads', type=int, default=None, help='override the config file thread count')
    args = ap.parse_args()
    with open(args.config) as f:
        cfg = json.load(f)
    c = cfg['model']
    if c.get('kind') not in ('pir-small', 'pir'):
        raise SystemExit(f"torch_reference.py: model kind {c.get('kind')!r} is not a PIR-style config")
    torch.manual_seed(int(cfg.get('seed', 0)))
    torch.set_num_threads(int(args.threads if args.threads is not None else cfg['threads']))
    torch.set_num_interop_threads(1)
    model = PirSmall(c)

    # Same parameters as the kit: keys, torch shapes, trainable set, decay split.
    sd = {k: v for k, v in model.named_parameters()}
    spec = {p['key']: p for p in cfg['params']}
    mismatch = sorted(set(sd) ^ set(spec))
    if mismatch:
        raise SystemExit(f'torch_reference.py: parameter keys differ from the kit: {mismatch[:10]}')
    for k, v in sd.items():
        if list(v.shape) != spec[k]['torchShape']:
            raise SystemExit(f"torch_reference.py: '{k}' has shape {list(v.shape)}, the kit {spec[k]['torchShape']}")
        v.requires_grad_(bool(spec[k]['trainable']))
    o = cfg['optimizer']
    decay = [v for k, v in sd.items() if spec[k]['trainable'] and spec[k]['decay']]
    no_decay = [v for k, v in sd.items() if spec[k]['trainable'] and not spec[k]['decay']]
    opt = torch.optim.AdamW([{'params': decay, 'weight_decay': o['weightDecay']}, {'params': no_decay, 'weight_decay': 0.0}],
                            lr=o['lr'], betas=(o['beta1'], o['beta2']), eps=o['eps'])
    lc = cfg['loss']
    if lc['contrastive'] != 'pir' or lc['affiliation'] != 'pir' or lc['tripletWeight'] != 0 or not lc['useImageIds']:
        raise SystemExit('torch_reference.py: only the default PIR loss (contrastive with image ids + affiliation) is implemented')

    B = int(cfg['batchSize'])
    S = c['imageSize']
    g = torch.Generator().manual_seed(1)
    images = torch.randn(B, 3, S, S, generator=g)  # NCHW (PyTorch's layout; the kit uses NHWC)
    tokens = torch.randint(1, c['text']['vocabSize'], (B, c['text']['contextLength']), generator=g)
    ids = torch.tensor(cfg['imageIds'])
    labels = torch.tensor(cfg['labels'])
    model.train()
    trainable = [v for v in sd.values() if v.requires_grad]

    def step():
        opt.zero_grad(set_to_none=True)
        img = model.encode_image(images)
        txt = model.encode_text(tokens)
        loss = lc['contrastiveWeight'] * pir_contrastive(img, txt, model.temp, ids) + lc['affiliationWeight'] * pir_affiliation(img, txt, model.temp2, labels)
        loss.backward()
        gn = torch.norm(torch.stack([p.grad.norm() for p in trainable if p.grad is not None])).item()  # the kit logs the grad norm
        opt.step()
        return loss.item(), gn

    losses = []
    for _ in range(int(cfg['warmup'])):
        losses.append(step()[0])
    ms = []
    for _ in range(int(cfg['steps'])):
        t0 = time.perf_counter()
        losses.append(step()[0])
        ms.append((time.perf_counter() - t0) * 1000)
    med = statistics.median(ms)
    print(json.dumps({
        'torchVersion': torch.__version__,
        'threads': torch.get_num_threads(),
        'batchSize': B,
        'steps': len(ms),
        'warmup': int(cfg['warmup']),
        'stepMsMean': statistics.mean(ms),
        'stepMsMedian': med,
        'stepMsMin': min(ms),
        'pairsPerSec': B * 1000 / med,
        'losses': losses,
        'paramCount': sum(v.numel() for v in sd.values()),
        'trainableCount': sum(v.numel() for v in trainable),
        'keysChecked': len(sd),
        'ompWaitPolicy': os.environ.get('OMP_WAIT_POLICY', ''),
        'blas': torch.__config__.show().split('BLAS_INFO=')[-1].split(',')[0] if 'BLAS_INFO=' in torch.__config__.show() else 'unknown',
    }))


if __name__ == '__main__':
    sys.exit(main())
