"""Test helper (PriorCLIP Kit, self-written; NOT the fork's code).

Builds the MODULE STRUCTURE of the PriorCLIP open_clip fork's `CLIP` (ViT + ModifiedResNet prior +
text transformer, module names and parameter shapes as open_clip declares them) from a fork-schema
model config JSON, with `vision_proj_res` sized Linear(embed_dim, vision width) as the kit's
launcher rebuilds it. No forward pass: the point is the state_dict (keys, shapes, buffers).

    python3 interop_torch_structure.py keys <config.json>                 # print [{key, shape}] as JSON
    python3 interop_torch_structure.py load <config.json> <state_dict.pt> # torch.load + strict load_state_dict
    python3 interop_torch_structure.py fork-ckpt <state_dict.pt> <out.pt> <epoch> <name>
        # write what the fork's training.main saves: {"epoch", "name", "state_dict": {"module.<k>"}, "optimizer"}
"""
import json
import sys
from collections import OrderedDict

import torch
import torch.nn as nn


class ResidualAttentionBlock(nn.Module):
    def __init__(self, width, heads, mlp_ratio):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads)
        self.ls_1 = nn.Identity()
        self.ln_2 = nn.LayerNorm(width)
        hidden = int(width * mlp_ratio)
        self.mlp = nn.Sequential(OrderedDict([("c_fc", nn.Linear(width, hidden)), ("gelu", nn.GELU()), ("c_proj", nn.Linear(hidden, width))]))
        self.ls_2 = nn.Identity()


class Transformer(nn.Module):
    def __init__(self, width, layers, heads, mlp_ratio):
        super().__init__()
        self.resblocks = nn.ModuleList([ResidualAttentionBlock(width, heads, mlp_ratio) for _ in range(layers)])


class VisionTransformer(nn.Module):
    def __init__(self, image_size, patch_size, width, layers, heads, mlp_ratio, output_dim):
        super().__init__()
        grid = image_size // patch_size
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch_size, stride=patch_size, bias=False)
        self.class_embedding = nn.Parameter(torch.zeros(width))
        self.positional_embedding = nn.Parameter(torch.zeros(grid * grid + 1, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = Transformer(width, layers, heads, mlp_ratio)
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(torch.zeros(width, output_dim))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride):
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
            self.downsample = nn.Sequential(OrderedDict([("-1", nn.AvgPool2d(stride)), ("0", nn.Conv2d(inplanes, planes * 4, 1, bias=False)), ("1", nn.BatchNorm2d(planes * 4))]))


class AttentionPool2d(nn.Module):
    def __init__(self, spacial_dim, embed_dim, num_heads, output_dim):
        super().__init__()
        self.positional_embedding = nn.Parameter(torch.zeros(spacial_dim ** 2 + 1, embed_dim))
        self.k_proj = nn.Linear(embed_dim, embed_dim)
        self.q_proj = nn.Linear(embed_dim, embed_dim)
        self.v_proj = nn.Linear(embed_dim, embed_dim)
        self.c_proj = nn.Linear(embed_dim, output_dim)


class ModifiedResNet(nn.Module):
    def __init__(self, layers, output_dim, heads, image_size, width):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width // 2, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width // 2)
        self.conv2 = nn.Conv2d(width // 2, width // 2, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width // 2)
        self.conv3 = nn.Conv2d(width // 2, width, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(width)
        self._inplanes = width
        self.layer1 = self._make(width, layers[0], 1)
        self.layer2 = self._make(width * 2, layers[1], 2)
        self.layer3 = self._make(width * 4, layers[2], 2)
        self.layer4 = self._make(width * 8, layers[3], 2)
        self.attnpool = AttentionPool2d(image_size // 32, width * 32, heads, output_dim)

    def _make(self, planes, blocks, stride):
        layers = [Bottleneck(self._inplanes, planes, stride)]
        self._inplanes = planes * 4
        layers += [Bottleneck(self._inplanes, planes, 1) for _ in range(1, blocks)]
        return nn.Sequential(*layers)


class ForkClipStructure(nn.Module):
    """Module names and registration order of the fork's CLIP (vision_proj_res first)."""

    def __init__(self, cfg):
        super().__init__()
        e, v, t = cfg["embed_dim"], cfg["vision_cfg"], cfg["text_cfg"]
        head_width = v.get("head_width", 64)
        self.vision_proj_res = nn.Linear(e, v["width"])
        self.visual = VisionTransformer(v["image_size"], v["patch_size"], v["width"], v["layers"], v["width"] // head_width, v.get("mlp_ratio", 4.0), e)
        self.res_visual = ModifiedResNet(v["res_layers"], e, v["res_width"] * 32 // head_width, v["image_size"], v["res_width"])
        self.transformer = Transformer(t["width"], t["layers"], t["heads"], t.get("mlp_ratio", 4.0))
        self.token_embedding = nn.Embedding(t["vocab_size"], t["width"])
        self.positional_embedding = nn.Parameter(torch.zeros(t["context_length"], t["width"]))
        self.ln_final = nn.LayerNorm(t["width"])
        self.text_projection = nn.Parameter(torch.zeros(t["width"], e))
        self.logit_scale = nn.Parameter(torch.ones([]))


def main(argv):
    cmd = argv[0]
    if cmd == "keys":
        model = ForkClipStructure(json.load(open(argv[1])))
        print(json.dumps([{"key": k, "shape": list(v.shape)} for k, v in model.state_dict().items()]))
    elif cmd == "load":
        model = ForkClipStructure(json.load(open(argv[1])))
        sd = torch.load(argv[2], map_location="cpu")
        model.load_state_dict(sd, strict=True)  # raises on any missing / unexpected / wrongly shaped key
        print(json.dumps({"loaded": len(sd), "keys": [{"key": k, "shape": list(v.shape), "dtype": str(v.dtype)} for k, v in sd.items()]}))
    elif cmd == "fork-ckpt":
        sd = torch.load(argv[1], map_location="cpu")
        params = [v for v in sd.values() if v.is_floating_point()]
        opt = torch.optim.AdamW([nn.Parameter(p.clone()) for p in params[:3]], lr=1e-3)
        for p in opt.param_groups[0]["params"]:
            p.grad = torch.ones_like(p)
        opt.step()
        torch.save({"epoch": int(argv[3]), "name": argv[4], "state_dict": OrderedDict(("module." + k, v) for k, v in sd.items()), "optimizer": opt.state_dict()}, argv[2])
        print(json.dumps({"written": argv[2], "tensors": len(sd)}))
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main(sys.argv[1:])
