"""Launcher for the PriorCLIP open_clip fork, written by the PriorCLIP Kit export (not fork code).

Usage (train.sh calls it; single GPU or under torchrun):

    PRIORCLIP_SRC=/path/to/PriorCLIP/src python priorclip_launch.py <training.main flags>
    PRIORCLIP_SRC=/path/to/PriorCLIP/src torchrun --nproc_per_node 4 priorclip_launch.py <flags>

It imports the fork from PRIORCLIP_SRC, then does three things before handing the flags to the
fork's own `training.main.main`, unchanged:

1. registers the exported model configs (./model_configs/*.json) with `open_clip.add_model_config`,
   so `--model <name>` finds them without copying files into the fork;
2. wraps `open_clip.model.CLIP.__init__` so that, after the fork builds the model, the prior
   projection `vision_proj_res` is rebuilt as `nn.Linear(embed_dim, vision_cfg.width)`. The fork
   hard-codes `nn.Linear(512, 768)`, which only fits embed_dim 512 / ViT width 768 (PIR.json);
   for those configs the wrap changes nothing. Reassigning the attribute keeps its place in the
   module order, so state_dict keys and order are the fork's own;
3. freezes the parameters whose state_dict key starts with one of the comma-separated prefixes in
   PRIORCLIP_FREEZE (e.g. `res_visual.,transformer.`): the fork has no working flag for a frozen
   prior or text tower (`--lock-text` fails on its CLIP class). The fork's optimiser only takes
   parameters with requires_grad, so frozen ones get neither updates nor weight decay.
   BatchNorm running statistics of a frozen prior still update in train mode unless
   PRIORCLIP_FREEZE_BN=1, which keeps every BatchNorm under a frozen prefix in eval mode.

`python priorclip_launch.py --check-config <name>` builds the model on CPU, prints its state_dict
keys and shapes as JSON and exits (no training, no GPU).
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def _fork_path():
    src = os.environ.get("PRIORCLIP_SRC")
    if not src:
        sys.exit("priorclip_launch.py: set PRIORCLIP_SRC to the fork's src/ folder (the one holding open_clip/ and training/)")
    if not os.path.isdir(os.path.join(src, "open_clip")) or not os.path.isdir(os.path.join(src, "training")):
        sys.exit(f"priorclip_launch.py: PRIORCLIP_SRC={src} has no open_clip/ and training/ folders")
    sys.path.insert(0, src)


def _freeze_prefixes():
    raw = os.environ.get("PRIORCLIP_FREEZE", "")
    return [p for p in (x.strip() for x in raw.split(",")) if p]


def _patch():
    import torch.nn as nn
    import open_clip
    from open_clip import model as oc_model

    open_clip.add_model_config(os.path.join(HERE, "model_configs"))
    original_init = oc_model.CLIP.__init__
    prefixes = _freeze_prefixes()
    freeze_bn = os.environ.get("PRIORCLIP_FREEZE_BN", "0") == "1"

    def init(self, embed_dim, vision_cfg, text_cfg, *args, **kwargs):
        original_init(self, embed_dim, vision_cfg, text_cfg, *args, **kwargs)
        width = vision_cfg["width"] if isinstance(vision_cfg, dict) else vision_cfg.width
        proj = self.vision_proj_res
        if proj.in_features != embed_dim or proj.out_features != width:
            self.vision_proj_res = nn.Linear(embed_dim, width)
        if prefixes:
            frozen = 0
            for name, p in self.named_parameters():
                if any(name.startswith(pre) for pre in prefixes):
                    p.requires_grad_(False)
                    frozen += p.numel()
            print(f"priorclip_launch: froze {frozen} parameters under {prefixes}", file=sys.stderr)
            if freeze_bn:
                frozen_bn = [m for n, m in self.named_modules() if isinstance(m, nn.BatchNorm2d) and any((n + ".").startswith(pre) for pre in prefixes)]
                original_train = self.train

                def train(mode=True):
                    original_train(mode)
                    for m in frozen_bn:
                        m.eval()
                    return self

                self.train = train

    oc_model.CLIP.__init__ = init


def main(argv):
    _fork_path()
    _patch()
    if len(argv) == 2 and argv[0] == "--check-config":
        import open_clip

        model = open_clip.create_model(argv[1], device="cpu")
        print(json.dumps([{"key": k, "shape": list(v.shape)} for k, v in model.state_dict().items()]))
        return
    from training.main import main as fork_main

    fork_main(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
