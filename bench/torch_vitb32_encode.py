"""PyTorch reference for the kit's PriorCLIP ViT-B/32 image encoding (bench/native.ts runs it).

The image side of PIR.json's PriorCLIP, written with torch.nn in open_clip's module names:
  res_visual   = ModifiedResNet (RN50: layers [3, 4, 6, 3], width 64, attention pool, 224 px, output 512)
  vision_proj_res = Linear(512 -> 768), the prior y [B, 1, 768]
  visual       = ViT-B/32 (patch 32, width 768, 12 layers, 12 heads, output 512) with the soft belief
                 (belief = softmax(x . y) over tokens; tokens = l2norm_T(x * b + x / sqrt(rank + 1));
                 seq = [y, tokens]; pooled at token 0)
Random weights (throughput does not depend on them), eval mode, torch.no_grad, random normalised images.
Prints one JSON line: images/s for the whole encode_image, and the state_dict keys + shapes so the caller
can check the model is the kit's (same keys, same shapes).

  /usr/bin/python3 bench/torch_vitb32_encode.py --batch 4 --iters 3 --threads 2
"""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.avgpool = nn.AvgPool2d(stride) if stride > 1 else nn.Identity()
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = None
        if stride > 1 or inplanes != planes * 4:
            self.downsample = nn.Sequential()
            self.downsample.add_module('-1', nn.AvgPool2d(stride) if stride > 1 else nn.Identity())
            self.downsample.add_module('0', nn.Conv2d(inplanes, planes * 4, 1, bias=False))
            self.downsample.add_module('1', nn.BatchNorm2d(planes * 4))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(self.avgpool(out)))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(out + identity)


class AttentionPool2d(nn.Module):
    def __init__(self, spacial, embed_dim, heads, output_dim):
        super().__init__()
        self.positional_embedding = nn.Parameter(torch.randn(spacial * spacial + 1, embed_dim) / embed_dim ** 0.5)
        self.k_proj = nn.Linear(embed_dim, embed_dim)
        self.q_proj = nn.Linear(embed_dim, embed_dim)
        self.v_proj = nn.Linear(embed_dim, embed_dim)
        self.c_proj = nn.Linear(embed_dim, output_dim)
        self.heads = heads

    def forward(self, x):  # NCHW
        x = x.flatten(2).permute(2, 0, 1)  # [HW, B, C]
        x = torch.cat([x.mean(0, keepdim=True), x], 0) + self.positional_embedding[:, None, :]
        out, _ = F.multi_head_attention_forward(
            query=x[:1], key=x, value=x, embed_dim_to_check=x.shape[-1], num_heads=self.heads,
            q_proj_weight=self.q_proj.weight, k_proj_weight=self.k_proj.weight, v_proj_weight=self.v_proj.weight,
            in_proj_weight=None, in_proj_bias=torch.cat([self.q_proj.bias, self.k_proj.bias, self.v_proj.bias]),
            bias_k=None, bias_v=None, add_zero_attn=False, dropout_p=0.0, out_proj_weight=self.c_proj.weight,
            out_proj_bias=self.c_proj.bias, use_separate_proj_weight=True, training=False, need_weights=False)
        return out[0]


class ModifiedResNet(nn.Module):
    def __init__(self, layers, output_dim, heads, image_size, width):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width // 2, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width // 2)
        self.conv2 = nn.Conv2d(width // 2, width // 2, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width // 2)
        self.conv3 = nn.Conv2d(width // 2, width, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(width)
        self.avgpool = nn.AvgPool2d(2)
        self._inplanes = width
        self.layer1 = self._make(width, layers[0])
        self.layer2 = self._make(width * 2, layers[1], 2)
        self.layer3 = self._make(width * 4, layers[2], 2)
        self.layer4 = self._make(width * 8, layers[3], 2)
        self.attnpool = AttentionPool2d(image_size // 32, width * 32, heads, output_dim)

    def _make(self, planes, blocks, stride=1):
        mods = [Bottleneck(self._inplanes, planes, stride)]
        self._inplanes = planes * 4
        mods += [Bottleneck(self._inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*mods)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = F.relu(self.bn3(self.conv3(x)))
        x = self.avgpool(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.attnpool(x)


class ResidualAttentionBlock(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads)
        self.ln_2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential()
        self.mlp.add_module('c_fc', nn.Linear(d, 4 * d))
        self.mlp.add_module('gelu', nn.GELU())
        self.mlp.add_module('c_proj', nn.Linear(4 * d, d))

    def forward(self, x):
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width, layers, heads):
        super().__init__()
        self.resblocks = nn.Sequential(*[ResidualAttentionBlock(width, heads) for _ in range(layers)])

    def forward(self, x):
        return self.resblocks(x)


class SoftBeliefViT(nn.Module):
    def __init__(self, image_size, patch, width, layers, heads, output_dim):
        super().__init__()
        scale = width ** -0.5
        self.conv1 = nn.Conv2d(3, width, patch, stride=patch, bias=False)
        grid = image_size // patch
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn(grid * grid + 1, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = Transformer(width, layers, heads)
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, output_dim))

    def forward(self, img, y):  # y [B, 1, W]
        x = self.conv1(img).flatten(2).transpose(1, 2)  # [B, grid², W]
        cls = self.class_embedding.expand(x.shape[0], 1, -1)
        x = self.ln_pre(torch.cat([cls, x], 1) + self.positional_embedding)  # [B, T, W]
        b = torch.softmax((x @ y.transpose(1, 2)).squeeze(-1), -1)  # [B, T]
        rank = torch.argsort(b, -1, descending=True).float()
        w = 1.0 / torch.sqrt(rank + 1)
        tokens = F.normalize(x * b[..., None] + x * w[..., None], dim=1)
        seq = torch.cat([y, tokens], 1).permute(1, 0, 2)  # [L, B, W]
        out = self.ln_post(self.transformer(seq).permute(1, 0, 2))
        return out[:, 0] @ self.proj


class PriorClipImage(nn.Module):
    def __init__(self):
        super().__init__()
        self.visual = SoftBeliefViT(224, 32, 768, 12, 12, 512)
        self.res_visual = ModifiedResNet([3, 4, 6, 3], 512, 32, 224, 64)
        self.vision_proj_res = nn.Linear(512, 768)

    def encode_image(self, img):
        y = self.vision_proj_res(self.res_visual(img))[:, None, :]
        return F.normalize(self.visual(img, y), dim=-1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--batch', type=int, required=True)
    ap.add_argument('--iters', type=int, default=3)
    ap.add_argument('--threads', type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = PriorClipImage().eval()
    img = torch.randn(a.batch, 3, 224, 224)
    times = []
    with torch.no_grad():
        model.encode_image(img)  # warm-up
        for _ in range(a.iters):
            t0 = time.perf_counter()
            model.encode_image(img)
            times.append(time.perf_counter() - t0)
    times.sort()
    med = times[len(times) // 2]
    sd = model.state_dict()
    keys = {k: list(v.shape) for k, v in sd.items()}
    print(json.dumps({
        'torchVersion': torch.__version__, 'threads': a.threads, 'batchSize': a.batch, 'iters': a.iters,
        'secondsMedian': med, 'secondsMin': times[0], 'imagesPerSec': a.batch / med,
        'params': sum(p.numel() for p in model.parameters()), 'keys': keys,
    }))


if __name__ == '__main__':
    main()
